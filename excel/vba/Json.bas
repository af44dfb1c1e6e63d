Attribute VB_Name = "Json"
'=======================================================================================
' Json - our own JSON reader and writer helpers (no vendored code).
'
' Reading: JsonParse(text) gives a Variant: a JsonObject for {...}, a 0-based Variant
' array for [...], String, Double, Boolean, or Null. It is built for the batch reply of
' 10,000 rows: it never walks a number or a plain string character by character (InStr
' finds their ends, and the next `,` `]` `}` are remembered, so the scan stays linear).
'
' Writing: JsonValue/JsonQuote/JsonNumber turn cell values into JSON text. Numbers use
' Str$ and "." whatever the user's locale (CStr would write "0,25" in a German Excel),
' and strings escape everything outside printable ASCII as \uXXXX, so request bodies are
' pure ASCII on every platform and transport.
'
' Errors raised:
'   vbObjectError + 1101  the text is not valid JSON (the message gives the position)
'=======================================================================================
Option Explicit
Option Private Module

' vbObjectError, spelled out: LibreOffice does not define vbObjectError.
Private Const OBJECT_ERROR As Long = -2147221504

Public Const JSON_ERR_PARSE As Long = 1101

Private mText As String
Private mPos As Long
Private mLen As Long
Private mNextComma As Long
Private mNextBracket As Long
Private mNextBrace As Long

' ---------------------------------------------------------------------------------------
' Reading
' ---------------------------------------------------------------------------------------

' Parse a JSON text. Objects come back as JsonObject: assign the result with JsonAssign
' (or Set when you know it is an object).
Public Function JsonParse(ByVal text As String) As Variant
    Dim result As Variant
    mText = text
    mLen = Len(text)
    mPos = 1
    mNextComma = 0
    mNextBracket = 0
    mNextBrace = 0
    jpValue result
    If jpPeek() <> "" Then jpFail "unexpected text after the end of the JSON value"
    mText = vbNullString
    If IsObject(result) Then
        Set JsonParse = result
    Else
        JsonParse = result
    End If
End Function

' Copy a Variant that may hold an object into target (Set or Let as needed).
Public Sub JsonAssign(ByRef target As Variant, ByVal value As Variant)
    If IsObject(value) Then
        Set target = value
    Else
        target = value
    End If
End Sub

' Number of elements of a parsed JSON array (0 for an empty one or a non-array).
Public Function JsonLength(ByVal items As Variant) As Long
    If Not IsArray(items) Then
        JsonLength = 0
    Else
        JsonLength = UBound(items) - LBound(items) + 1
    End If
End Function

Private Sub jpValue(ByRef result As Variant)
    Dim c As String
    c = jpPeek()
    Select Case c
        Case "{"
            jpObject result
        Case "["
            jpArray result
        Case """"
            result = jpString()
        Case "t"
            jpLiteral "true"
            result = True
        Case "f"
            jpLiteral "false"
            result = False
        Case "n"
            jpLiteral "null"
            result = Null
        Case ""
            jpFail "unexpected end of the text"
        Case Else
            result = jpNumber()
    End Select
End Sub

' The next character that is not white space, without consuming it ("" at the end).
' (Every character up to the space counts as white space. No vbTab/vbCr/vbLf here:
' LibreOffice looks VBA constants up at run time, which is slow in a loop.)
Private Function jpPeek() As String
    Dim c As String
    Do
        c = Mid$(mText, mPos, 1)
        If c > " " Or Len(c) = 0 Then
            jpPeek = c
            Exit Function
        End If
        mPos = mPos + 1
    Loop
End Function

Private Sub jpObject(ByRef result As Variant)
    Dim target As JsonObject
    Dim key As String
    Dim item As Variant
    Dim c As String
    Set target = New JsonObject
    mPos = mPos + 1
    c = jpPeek()
    If c = "}" Then
        mPos = mPos + 1
        Set result = target
        Exit Sub
    End If
    Do
        If c <> """" Then jpFail "expected a key in double quotes"
        key = jpString()
        If jpPeek() <> ":" Then jpFail "expected ':' after a key"
        mPos = mPos + 1
        jpValue item
        target.AddPair key, item
        c = jpPeek()
        mPos = mPos + 1
        If c = "}" Then Exit Do
        If c <> "," Then jpFail "expected ',' or '}' in an object"
        c = jpPeek()
    Loop
    Set result = target
End Sub

Private Sub jpArray(ByRef result As Variant)
    Dim items() As Variant
    Dim count As Long
    Dim item As Variant
    Dim c As String
    mPos = mPos + 1
    If jpPeek() = "]" Then
        mPos = mPos + 1
        result = Array()
        Exit Sub
    End If
    ReDim items(0 To 7)
    Do
        ' Block If on purpose: LibreOffice skips the statement after a one-line If ... ReDim.
        If count > UBound(items) Then
            ReDim Preserve items(0 To 2 * count - 1)
        End If
        jpValue item
        If IsObject(item) Then
            Set items(count) = item
        Else
            items(count) = item
        End If
        count = count + 1
        c = jpPeek()
        mPos = mPos + 1
        If c = "]" Then Exit Do
        If c <> "," Then jpFail "expected ',' or ']' in an array"
    Loop
    ReDim Preserve items(0 To count - 1)
    result = items
End Sub

Private Function jpString() As String
    Dim closing As Long
    Dim segment As String
    closing = InStr(mPos + 1, mText, """")
    If closing = 0 Then jpFail "a string is not closed"
    segment = Mid$(mText, mPos + 1, closing - mPos - 1)
    If InStr(1, segment, "\") = 0 Then
        ' The usual case: no escapes, one InStr and one Mid$.
        mPos = closing + 1
        jpString = segment
    Else
        jpString = jpEscapedString()
    End If
End Function

' A string with backslash escapes: walked character by character (they are short).
Private Function jpEscapedString() As String
    Dim failure As String
    jpEscapedString = jpUnescape(mText, mPos, failure)
    If Len(failure) > 0 Then jpFail failure
End Function

' The string whose opening quote is at text(position); position ends after the closing
' quote. A problem is reported in failure (not raised: the callers raise their own way).
Private Function jpUnescape(ByRef text As String, ByRef position As Long, _
                            ByRef failure As String) As String
    Dim result As String
    Dim c As String
    Dim code As String
    Dim size As Long
    size = Len(text)
    position = position + 1
    Do
        If position > size Then
            failure = "a string is not closed"
            Exit Function
        End If
        c = Mid$(text, position, 1)
        If c = """" Then
            position = position + 1
            Exit Do
        ElseIf c = "\" Then
            c = Mid$(text, position + 1, 1)
            position = position + 2
            Select Case c
                Case """", "\", "/"
                    result = result & c
                Case "b"
                    result = result & Chr$(8)
                Case "f"
                    result = result & Chr$(12)
                Case "n"
                    result = result & Chr$(10)
                Case "r"
                    result = result & Chr$(13)
                Case "t"
                    result = result & Chr$(9)
                Case "u"
                    code = Mid$(text, position, 4)
                    If Len(code) <> 4 Or (code Like "*[!0-9A-Fa-f]*") Then
                        failure = "a \u escape needs four hex digits"
                        Exit Function
                    End If
                    result = result & ChrW$(CLng("&H" & code))
                    position = position + 4
                Case Else
                    failure = "unknown escape \" & c
                    Exit Function
            End Select
        Else
            result = result & c
            position = position + 1
        End If
    Loop
    jpUnescape = result
End Function

Private Function jpNumber() As Double
    Dim stopAt As Long
    Dim token As String
    ' A number ends at the next , ] or } (or the end of the text); each of those three
    ' positions is found once and reused until the scan passes it.
    If mNextComma < mPos Then mNextComma = jpFind(",")
    If mNextBracket < mPos Then mNextBracket = jpFind("]")
    If mNextBrace < mPos Then mNextBrace = jpFind("}")
    stopAt = mNextComma
    If mNextBracket < stopAt Then stopAt = mNextBracket
    If mNextBrace < stopAt Then stopAt = mNextBrace
    token = Trim$(Mid$(mText, mPos, stopAt - mPos))
    If token Like "*[!0-9eE.+-]*" Then
        ' Pretty-printed JSON: tabs or line breaks before the next , ] or }.
        token = Replace(Replace(Replace(token, Chr$(9), ""), Chr$(10), ""), Chr$(13), "")
        token = Trim$(token)
    End If
    If Len(token) = 0 Or (token Like "*[!0-9eE.+-]*") Then
        jpFail "unexpected character"
    End If
    ' Val reads "." as the decimal separator in every locale (CDbl would not).
    jpNumber = Val(token)
    mPos = stopAt
End Function

Private Function jpFind(ByVal target As String) As Long
    jpFind = InStr(mPos, mText, target)
    If jpFind = 0 Then jpFind = mLen + 1
End Function

Private Sub jpLiteral(ByVal word As String)
    If Mid$(mText, mPos, Len(word)) <> word Then jpFail "unexpected character"
    mPos = mPos + Len(word)
End Sub

Private Sub jpFail(ByVal message As String)
    Dim excerpt As String
    excerpt = Mid$(mText, mPos, 30)
    mText = vbNullString
    Err.Raise OBJECT_ERROR + JSON_ERR_PARSE, "Json.JsonParse", _
        "The reply is not valid JSON: " & message & " at character " & mPos & _
        " (near '" & excerpt & "')."
End Sub

' ---------------------------------------------------------------------------------------
' Reading a big table fast
'
' LibreOffice Basic spends tens of microseconds on every procedure call and several on
' every statement, so the general reader (several calls per value) needs 10+ s for the
' 10,000-row batch reply. These two functions read the compact table that the API sends
' ([[0.31,"decline",null,null],[...]]) with Split, a few statements per cell. They never
' guess: anything unexpected (white space, escapes, a row of another width) makes them
' answer False, and the caller uses the general reader instead.
' ---------------------------------------------------------------------------------------

' Cut the array of arrays under tableKey out of an object's JSON text: tableText gets
' "[[...]]" (or "[]") and restText the object with "[]" in its place.
Public Function JsonSplitTable(ByVal text As String, ByVal tableKey As String, _
                               ByRef tableText As String, ByRef restText As String) As Boolean
    Dim keyAt As Long
    Dim first As Long
    Dim last As Long
    keyAt = InStr(1, text, """" & tableKey & """:")
    If keyAt = 0 Then Exit Function
    first = keyAt + Len(tableKey) + 3
    If Mid$(text, first, 2) = "[]" Then
        last = first + 1
    ElseIf Mid$(text, first, 2) = "[[" Then
        last = InStr(first, text, "]]")
        If last = 0 Then Exit Function
        last = last + 1
    Else
        Exit Function
    End If
    tableText = Mid$(text, first, last - first + 1)
    restText = Left$(text, first - 1) & "[]" & Mid$(text, last + 1)
    JsonSplitTable = True
End Function

' Read a compact table into out(1 To maxRows, 1 To targetColumns): source column c
' (1-based) goes to column columnMap(c) of out, or nowhere when that is 0. null cells stay
' Empty. False (and out incomplete) when the text is not such a table.
Public Function JsonTableToArray(ByVal tableText As String, ByVal maxRows As Long, _
                                 ByRef columnMap() As Long, ByVal targetColumns As Long, _
                                 ByRef out As Variant, ByRef rowCount As Long) As Boolean
    Dim inner As String
    Dim rowTexts() As String
    Dim cells() As String
    Dim sourceCount As Long
    Dim r As Long
    Dim c As Long
    Dim target As Long
    Dim piece As String
    Dim first As String
    Dim block() As Variant

    rowCount = 0
    ReDim block(1 To maxRows, 1 To targetColumns)
    If tableText = "[]" Then
        out = block
        JsonTableToArray = True
        Exit Function
    End If
    If Left$(tableText, 2) <> "[[" Or Right$(tableText, 2) <> "]]" Then Exit Function
    inner = Mid$(tableText, 3, Len(tableText) - 4)
    If InStr(1, inner, "\") > 0 Then Exit Function
    rowTexts = Split(inner, "],[")
    If UBound(rowTexts) + 1 > maxRows Then Exit Function
    sourceCount = UBound(columnMap)
    For r = 1 To UBound(rowTexts) + 1
        cells = Split(rowTexts(r - 1), ",")
        If UBound(cells) <> sourceCount - 1 Then Exit Function
        For c = 1 To sourceCount
            target = columnMap(c)
            If target > 0 Then
                piece = cells(c - 1)
                first = Left$(piece, 1)
                If first = """" Then
                    If Len(piece) < 2 Or Right$(piece, 1) <> """" Then Exit Function
                    block(r, target) = Mid$(piece, 2, Len(piece) - 2)
                ElseIf first = "n" Then
                    If piece <> "null" Then Exit Function
                ElseIf first = "t" Or first = "f" Then
                    If piece <> "true" And piece <> "false" Then Exit Function
                    block(r, target) = (piece = "true")
                Else
                    If Len(piece) = 0 Or (piece Like "*[!0-9eE.+-]*") Then Exit Function
                    block(r, target) = Val(piece)
                End If
            End If
        Next c
    Next r
    rowCount = UBound(rowTexts) + 1
    out = block
    JsonTableToArray = True
End Function

' ---------------------------------------------------------------------------------------
' Writing
' ---------------------------------------------------------------------------------------

' A cell value as JSON: numbers as numbers, text as strings, empty cells as null.
' VarType codes are written as numbers, not vbDouble etc.: LibreOffice looks VBA constants
' up at run time, and that made a 1,000-row request take seconds.
Public Function JsonValue(ByVal value As Variant) As String
    Select Case VarType(value)
        Case 5, 3, 2, 4, 6, 17, 14, 7  ' vbDouble, vbLong, vbInteger, vbSingle, vbCurrency, vbByte, vbDecimal, vbDate
            JsonValue = JsonNumber(CDbl(value))
        Case 8  ' vbString
            JsonValue = JsonQuote(value)
        Case 0, 1  ' vbEmpty, vbNull
            JsonValue = "null"
        Case 11  ' vbBoolean
            If value Then JsonValue = "true" Else JsonValue = "false"
        Case 10  ' vbError
            ' A cell showing #N/A, #VALUE! ...: sent as text, so the API names the row.
            JsonValue = JsonQuote("#ERROR")
        Case Else
            JsonValue = JsonQuote(CStr(value))
    End Select
End Function

' A number in JSON syntax with "." as the decimal separator, whatever the locale.
Public Function JsonNumber(ByVal number As Double) As String
    Dim text As String
    text = Trim$(Str$(number))
    ' Str$ writes ".5" and "-.5"; JSON needs the leading zero.
    If Left$(text, 1) = "." Then
        text = "0" & text
    ElseIf Left$(text, 2) = "-." Then
        text = "-0" & Mid$(text, 2)
    End If
    JsonNumber = text
End Function

' A string in double quotes, escaped; everything outside printable ASCII as \uXXXX.
Public Function JsonQuote(ByVal text As String) As String
    If Not (text Like "*[!" & " " & "-~]*") Then
        If InStr(1, text, """") = 0 And InStr(1, text, "\") = 0 Then
            JsonQuote = """" & text & """"
            Exit Function
        End If
    End If
    Dim result As String
    Dim index As Long
    Dim c As String
    Dim code As Long
    For index = 1 To Len(text)
        c = Mid$(text, index, 1)
        code = AscW(c) And &HFFFF&
        If c = """" Then
            result = result & "\"""
        ElseIf c = "\" Then
            result = result & "\\"
        ElseIf code < 32 Or code > 126 Then
            result = result & "\u" & Right$("000" & LCase$(Hex$(code)), 4)
        Else
            result = result & c
        End If
    Next index
    JsonQuote = """" & result & """"
End Function
