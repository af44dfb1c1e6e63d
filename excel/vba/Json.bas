Attribute VB_Name = "Json"
'=======================================================================================
' Json - our own JSON reader and writer helpers (no vendored code).
'
' Reading: JsonParse(text) gives a Variant: a JsonObject for {...}, a 0-based Variant
' array for [...], String, Double, Boolean, or Null. It reads RFC 8259 exactly: the
' number grammar (no "01", "1.", ".5", "+1"), white space only as space, tab, CR and LF,
' no raw control characters in strings, lower-case literals. Nesting deeper than
' JSON_MAX_DEPTH and numbers beyond a Double's range are parse errors, not run-time errors.
' It is built for the batch reply of 10,000 rows and stays linear in the text's size:
' plain numbers and strings are checked with Like patterns, not walked one character at a
' time (InStr finds their ends, and the next `,` `]` `}` are remembered); escaped strings
' are cut at their escapes and joined once.
'
' Writing: JsonValue/JsonQuote/JsonNumber turn cell values into JSON text. A number is
' written with the fewest significant digits (up to 17) that read back to the same Double,
' built from Str$ and Val with "." whatever the user's locale (CStr would write "0,25" in
' a German Excel),
' and strings escape everything outside printable ASCII as \uXXXX, so request bodies are
' pure ASCII on every platform and transport.
'
' Errors raised:
'   vbObjectError + 1101  the text is not valid JSON (the message gives the position)
'=======================================================================================
Option Explicit
Option Private Module

Public Const JSON_ERR_PARSE As Long = 1101
Public Const JSON_MAX_DEPTH As Long = 200

' Like pattern: true when a text holds anything but printable ASCII.
Private Const NOT_PRINTABLE_ASCII As String = "*[! -~]*"

Private mText As String
Private mPos As Long
Private mLen As Long
Private mNextComma As Long
Private mNextBracket As Long
Private mNextBrace As Long
Private mDepth As Long
Private mWhite As String

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
    mDepth = 0
    mWhite = " " & Chr$(9) & Chr$(10) & Chr$(13)
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

' A parsed JSON value as text: a string, number or Boolean as CStr writes it; an object,
' an array, null or a missing value as "".
Public Function JsonScalarText(ByVal value As Variant) As String
    If IsObject(value) Then Exit Function
    If IsEmpty(value) Or IsNull(value) Then Exit Function
    If IsArray(value) Then Exit Function
    JsonScalarText = CStr(value)
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
' White space is space, tab, LF and CR only (RFC 8259); any other control character is
' returned, and the caller rejects it. (mWhite, not vbTab/vbCr/vbLf: LibreOffice looks VBA
' constants up at run time, which is slow in a loop.)
Private Function jpPeek() As String
    Dim c As String
    Do
        c = Mid$(mText, mPos, 1)
        If c > " " Or Len(c) = 0 Then
            jpPeek = c
            Exit Function
        End If
        If InStr(1, mWhite, c) = 0 Then
            jpPeek = c
            Exit Function
        End If
        mPos = mPos + 1
    Loop
End Function

' One level deeper; a parse error past JSON_MAX_DEPTH (long before the stack runs out).
Private Sub jpEnter()
    mDepth = mDepth + 1
    If mDepth > JSON_MAX_DEPTH Then
        jpFail "arrays and objects are nested deeper than " & JSON_MAX_DEPTH & " levels"
    End If
End Sub

Private Sub jpObject(ByRef result As Variant)
    Dim target As JsonObject
    Dim key As String
    Dim item As Variant
    Dim c As String
    Set target = New JsonObject
    jpEnter
    mPos = mPos + 1
    c = jpPeek()
    If c = "}" Then
        mPos = mPos + 1
        mDepth = mDepth - 1
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
    mDepth = mDepth - 1
    Set result = target
End Sub

Private Sub jpArray(ByRef result As Variant)
    Dim items() As Variant
    Dim count As Long
    Dim item As Variant
    Dim c As String
    jpEnter
    mPos = mPos + 1
    If jpPeek() = "]" Then
        mPos = mPos + 1
        mDepth = mDepth - 1
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
    mDepth = mDepth - 1
    result = items
End Sub

Private Function jpString() As String
    Dim closing As Long
    Dim segment As String
    closing = InStr(mPos + 1, mText, """")
    If closing = 0 Then jpFail "a string is not closed"
    segment = Mid$(mText, mPos + 1, closing - mPos - 1)
    If InStr(1, segment, "\") = 0 Then
        ' The usual case: no escapes, one InStr, one Mid$ and (for printable ASCII) one Like.
        If segment Like NOT_PRINTABLE_ASCII Then
            If jpControlAt(segment) > 0 Then
                mPos = mPos + jpControlAt(segment)
                jpFail "a control character must be escaped inside a string"
            End If
        End If
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

' Position (1-based) of the first character below U+0020 in text, 0 if there is none.
' Only called for text that is not plain printable ASCII.
Private Function jpControlAt(ByVal text As String) As Long
    Dim index As Long
    Dim code As Long
    For index = 1 To Len(text)
        code = AscW(Mid$(text, index, 1))
        If code >= 0 And code < 32 Then
            jpControlAt = index
            Exit Function
        End If
    Next index
End Function

' The string whose opening quote is at text(position); position ends after the closing
' quote. A problem is reported in failure (not raised: the callers raise their own way).
' The text between escapes is copied with one Mid$ each and the pieces joined once, so a
' long string with many escapes still costs linear time.
Private Function jpUnescape(ByRef text As String, ByRef position As Long, _
                            ByRef failure As String) As String
    Dim pieces() As String
    Dim count As Long
    Dim c As String
    Dim code As String
    Dim quoteAt As Long
    Dim slashAt As Long
    Dim plain As String
    ReDim pieces(0 To 15)
    position = position + 1
    Do
        quoteAt = InStr(position, text, """")
        If quoteAt = 0 Then
            failure = "a string is not closed"
            Exit Function
        End If
        slashAt = InStr(position, text, "\")
        If slashAt = 0 Or slashAt > quoteAt Then slashAt = quoteAt
        plain = Mid$(text, position, slashAt - position)
        If plain Like NOT_PRINTABLE_ASCII Then
            If jpControlAt(plain) > 0 Then
                position = position + jpControlAt(plain) - 1
                failure = "a control character must be escaped inside a string"
                Exit Function
            End If
        End If
        If count + 2 > UBound(pieces) Then
            ReDim Preserve pieces(0 To 2 * UBound(pieces) + 1)
        End If
        pieces(count) = plain
        count = count + 1
        If slashAt = quoteAt Then
            position = quoteAt + 1
            Exit Do
        End If
        c = Mid$(text, slashAt + 1, 1)
        position = slashAt + 2
        Select Case c
            Case """", "\", "/"
                pieces(count) = c
            Case "b"
                pieces(count) = Chr$(8)
            Case "f"
                pieces(count) = Chr$(12)
            Case "n"
                pieces(count) = Chr$(10)
            Case "r"
                pieces(count) = Chr$(13)
            Case "t"
                pieces(count) = Chr$(9)
            Case "u"
                code = Mid$(text, position, 4)
                If Len(code) <> 4 Or (code Like "*[!0-9A-Fa-f]*") Then
                    failure = "a \u escape needs four hex digits"
                    Exit Function
                End If
                pieces(count) = ChrW$(CLng("&H" & code))
                position = position + 4
            Case Else
                position = slashAt
                failure = "unknown escape \" & c
                Exit Function
        End Select
        count = count + 1
    Loop
    ReDim Preserve pieces(0 To count - 1)
    jpUnescape = Join(pieces, "")
End Function

Private Function jpNumber() As Double
    Dim stopAt As Long
    Dim token As String
    Dim failure As String
    ' A number ends at the next , ] or } (or the end of the text); each of those three
    ' positions is found once and reused until the scan passes it.
    If mNextComma < mPos Then mNextComma = jpFind(",")
    If mNextBracket < mPos Then mNextBracket = jpFind("]")
    If mNextBrace < mPos Then mNextBrace = jpFind("}")
    stopAt = mNextComma
    If mNextBracket < stopAt Then stopAt = mNextBracket
    If mNextBrace < stopAt Then stopAt = mNextBrace
    token = Mid$(mText, mPos, stopAt - mPos)
    ' White space between the number and the next , ] or } is left for jpPeek.
    Do While Len(token) > 0
        If InStr(1, mWhite, Right$(token, 1)) = 0 Then Exit Do
        token = Left$(token, Len(token) - 1)
    Loop
    jpNumber = JsonReadNumber(token, failure)
    If Len(failure) > 0 Then jpFail failure
    mPos = mPos + Len(token)
End Function

' The Double a JSON number text stands for; failure says why when it is not one (the
' RFC 8259 grammar, or a magnitude beyond a Double's range; a magnitude below it reads
' as 0). Val reads "." as the decimal separator in every locale (CDbl would not).
Public Function JsonReadNumber(ByVal token As String, ByRef failure As String) As Double
    Dim digits As String
    Dim exponent As Long
    failure = vbNullString
    If Not jpIsNumberText(token) Then
        If Len(token) > 0 And (token Like "[-0-9.]*") Then
            failure = "'" & Left$(token, 40) & "' is not a JSON number"
        Else
            failure = "unexpected character"
        End If
        Exit Function
    End If
    If Not jpDecimalExponent(token, digits, exponent) Then Exit Function  ' zero
    If exponent > 308 Or (exponent = 308 And digits > "17976931348623158079") Then
        failure = "the number " & Left$(token, 40) & " does not fit a Double"
        Exit Function
    End If
    If exponent < -330 Then Exit Function  ' below the smallest Double: 0
    On Error Resume Next
    JsonReadNumber = Val(token)
    On Error GoTo 0
End Function

' Whether token is a plain decimal ("12", "-0.25"): digits, at most one dot between
' digits, no leading zero before a digit. Tested with Like alone (the batch reply's case).
Private Function jpIsPlainDecimal(ByVal token As String) As Boolean
    Dim body As String
    body = token
    If Left$(body, 1) = "-" Then body = Mid$(body, 2)
    If Len(body) = 0 Or Len(body) > 17 Then Exit Function
    If body Like "*[!0-9.]*" Then Exit Function
    If Not (body Like "#*") Or (body Like "*.") Or (body Like "*.*.*") Then Exit Function
    If body Like "0#*" Then Exit Function
    jpIsPlainDecimal = True
End Function

' Whether token follows RFC 8259's number grammar:
'   [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
Private Function jpIsNumberText(ByVal token As String) As Boolean
    Dim unsigned As String
    Dim mantissa As String
    Dim exponentText As String
    Dim eAt As Long
    Dim dotAt As Long
    If jpIsPlainDecimal(token) Then
        jpIsNumberText = True
        Exit Function
    End If
    If Len(token) = 0 Or (token Like "*[!0-9eE.+-]*") Then Exit Function
    unsigned = token
    If Left$(unsigned, 1) = "-" Then unsigned = Mid$(unsigned, 2)
    eAt = InStr(1, unsigned, "e", vbTextCompare)
    If eAt > 0 Then
        mantissa = Left$(unsigned, eAt - 1)
        exponentText = Mid$(unsigned, eAt + 1)
        If Left$(exponentText, 1) = "+" Or Left$(exponentText, 1) = "-" Then
            exponentText = Mid$(exponentText, 2)
        End If
        If Len(exponentText) = 0 Or (exponentText Like "*[!0-9]*") Then Exit Function
    Else
        mantissa = unsigned
    End If
    dotAt = InStr(1, mantissa, ".")
    If dotAt > 0 Then
        If Len(mantissa) = dotAt Then Exit Function
        If Mid$(mantissa, dotAt + 1) Like "*[!0-9]*" Then Exit Function
        mantissa = Left$(mantissa, dotAt - 1)
    End If
    If Len(mantissa) = 0 Or (mantissa Like "*[!0-9]*") Then Exit Function
    If Len(mantissa) > 1 And Left$(mantissa, 1) = "0" Then Exit Function
    jpIsNumberText = True
End Function

' For a valid number text: its significant digits (no leading zeros) and the decimal
' exponent of the first of them (1.5e3 gives "15", 3). False when every digit is zero.
Private Function jpDecimalExponent(ByVal token As String, ByRef digits As String, _
                                   ByRef exponent As Long) As Boolean
    Dim mantissa As String
    Dim eAt As Long
    Dim dotAt As Long
    Dim intLength As Long
    Dim lead As Long
    Dim powerText As String
    mantissa = token
    If Left$(mantissa, 1) = "-" Then mantissa = Mid$(mantissa, 2)
    eAt = InStr(1, mantissa, "e", vbTextCompare)
    powerText = "0"
    If eAt > 0 Then
        powerText = Mid$(mantissa, eAt + 1)
        mantissa = Left$(mantissa, eAt - 1)
    End If
    If Left$(powerText, 1) = "+" Then powerText = Mid$(powerText, 2)
    ' An exponent of more than 9 digits is out of range whatever the mantissa: capped.
    If Len(Replace(powerText, "-", "")) > 9 Then
        If Left$(powerText, 1) = "-" Then
            powerText = "-999999999"
        Else
            powerText = "999999999"
        End If
    End If
    dotAt = InStr(1, mantissa, ".")
    If dotAt > 0 Then
        intLength = dotAt - 1
        mantissa = Left$(mantissa, dotAt - 1) & Mid$(mantissa, dotAt + 1)
    Else
        intLength = Len(mantissa)
    End If
    lead = 1
    Do While lead <= Len(mantissa)
        If Mid$(mantissa, lead, 1) <> "0" Then Exit Do
        lead = lead + 1
    Loop
    If lead > Len(mantissa) Then Exit Function
    digits = Mid$(mantissa, lead)
    exponent = CLng(Val(powerText)) + intLength - lead
    jpDecimalExponent = True
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
    Dim failure As String

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
                    If piece Like NOT_PRINTABLE_ASCII Then Exit Function
                    block(r, target) = Mid$(piece, 2, Len(piece) - 2)
                ElseIf first = "n" Then
                    If piece <> "null" Then Exit Function
                ElseIf first = "t" Or first = "f" Then
                    If piece <> "true" And piece <> "false" Then Exit Function
                    block(r, target) = (piece = "true")
                Else
                    ' Plain decimals by Like alone; other numbers (1e-05) by the full check.
                    If jpIsPlainDecimal(piece) Then
                        block(r, target) = Val(piece)
                    Else
                        block(r, target) = JsonReadNumber(piece, failure)
                        If Len(failure) > 0 Then Exit Function
                    End If
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

' A number in JSON syntax with "." as the decimal separator, whatever the locale: the
' fewest significant digits (15, 16 or 17) that read back to the same Double. Str$ gives
' 15 digits; when they do not read back, the difference to the 15-digit value (exact, the
' two are close) gives the next two digits, and the nearest 16- and 17-digit texts are
' tried. Below 1E-290 only the 15 digits of Str$ are written (they may not read back).
Public Function JsonNumber(ByVal number As Double) As String
    Dim digits As String
    Dim power As Long
    Dim negative As Boolean
    Dim candidate As String
    Dim residual As Double
    Dim hi As Double
    Dim lo As Double
    Dim lo16 As Double
    Dim offset As Long
    Dim delta As Long
    Dim first As Long
    Dim last As Long
    ' The usual cases first, in a few statements (LibreOffice pays for every call): whole
    ' numbers below 1E+15 (Str$ writes them exactly), then Str$'s 15 digits when they read
    ' back and need no exponent.
    If number = Int(number) And Abs(number) < 1E+15 Then
        JsonNumber = Trim$(Str$(number))
        Exit Function
    End If
    candidate = Trim$(Str$(number))
    If InStr(1, candidate, "E") = 0 Then
        ' Str$ writes ".5" and "-.5"; JSON needs the leading zero.
        If Left$(candidate, 1) = "." Then
            candidate = "0" & candidate
        ElseIf Left$(candidate, 2) = "-." Then
            candidate = "-0" & Mid$(candidate, 2)
        End If
        If Val(candidate) = number Then
            JsonNumber = candidate
            Exit Function
        End If
    End If
    negative = (number < 0)
    If Abs(number) >= 1.79769313486231E+308 Then
        ' Str$ rounds these up to 1.79769313486232E+308, which is no Double: start below.
        digits = "179769313486231"
        power = 294
    Else
        jwSplit Trim$(Str$(Abs(number))), digits, power
    End If
    candidate = jwCompose(negative, digits, power)
    If jwReadsBack(candidate, number) Or Abs(number) < 1E-290 Then
        JsonNumber = candidate
        Exit Function
    End If
    ' 17 digits: value = (hi * 10^6 + lo) * 10^power, hi the first 11 digits.
    residual = Abs(number) - Val(digits & "E" & power)
    power = power - (17 - Len(digits))
    digits = digits & String$(17 - Len(digits), "0")
    hi = Val(Left$(digits, 11))
    lo = Val(Right$(digits, 6)) + Int(residual / 10# ^ power + 0.5)
    lo16 = Int(lo / 10#) * 10#
    For offset = 0 To 10 Step 10
        candidate = jwCompose(negative, jwDigits(hi, lo16 + offset), power)
        If jwReadsBack(candidate, number) Then
            JsonNumber = candidate
            Exit Function
        End If
    Next offset
    ' 17 digits: several texts around the estimate may read back; the middle one of
    ' them is the nearest to the exact value of the Double.
    first = 99
    last = -99
    For delta = -8 To 8
        If jwReadsBack(jwCompose(negative, jwDigits(hi, lo + delta), power), number) Then
            If delta < first Then first = delta
            last = delta
        End If
    Next delta
    If first <= last Then
        JsonNumber = jwCompose(negative, jwDigits(hi, lo + Int((first + last) / 2)), power)
        Exit Function
    End If
    JsonNumber = jwCompose(negative, jwDigits(hi, lo), power)
End Function

' Str$'s text of a positive number ("123.45", ".001", "1.5E+20") as digits and a power of
' ten: value = digits * 10^power.
Private Sub jwSplit(ByVal text As String, ByRef digits As String, ByRef power As Long)
    Dim eAt As Long
    Dim dotAt As Long
    Dim mantissa As String
    power = 0
    mantissa = text
    eAt = InStr(1, text, "E", vbTextCompare)
    If eAt > 0 Then
        power = CLng(Val(Mid$(text, eAt + 1)))
        mantissa = Left$(text, eAt - 1)
    End If
    dotAt = InStr(1, mantissa, ".")
    If dotAt > 0 Then
        power = power - (Len(mantissa) - dotAt)
        mantissa = Left$(mantissa, dotAt - 1) & Mid$(mantissa, dotAt + 1)
    End If
    Do While Len(mantissa) > 1 And Left$(mantissa, 1) = "0"
        mantissa = Mid$(mantissa, 2)
    Loop
    digits = mantissa
End Sub

' The digits of hi * 10^6 + lo, with lo carried into hi when it left 0..999999.
Private Function jwDigits(ByVal hi As Double, ByVal lo As Double) As String
    Do While lo < 0
        lo = lo + 1000000#
        hi = hi - 1
    Loop
    Do While lo >= 1000000#
        lo = lo - 1000000#
        hi = hi + 1
    Loop
    jwDigits = Trim$(Str$(hi)) & Right$("00000" & Trim$(Str$(lo)), 6)
End Function

' digits * 10^power as JSON: plain for decimal exponents -7 to 20, else d.dddE+x.
Private Function jwCompose(ByVal negative As Boolean, ByVal digits As String, _
                           ByVal power As Long) As String
    Dim text As String
    Dim exp10 As Long
    Do While Len(digits) > 1 And Right$(digits, 1) = "0"
        digits = Left$(digits, Len(digits) - 1)
        power = power + 1
    Loop
    exp10 = power + Len(digits) - 1
    If exp10 >= -7 And exp10 < 21 Then
        If power >= 0 Then
            text = digits & String$(power, "0")
        ElseIf exp10 >= 0 Then
            text = Left$(digits, exp10 + 1) & "." & Mid$(digits, exp10 + 2)
        Else
            text = "0." & String$(-exp10 - 1, "0") & digits
        End If
    Else
        text = Left$(digits, 1)
        If Len(digits) > 1 Then text = text & "." & Mid$(digits, 2)
        If exp10 < 0 Then
            text = text & "E-" & Trim$(Str$(-exp10))
        Else
            text = text & "E+" & Trim$(Str$(exp10))
        End If
    End If
    If negative Then text = "-" & text
    jwCompose = text
End Function

' Whether Val reads text back as exactly number (False if Val overflows).
Private Function jwReadsBack(ByVal text As String, ByVal number As Double) As Boolean
    Dim value As Double
    value = 0
    On Error Resume Next
    value = Val(text)
    On Error GoTo 0
    jwReadsBack = (value = number)
End Function

' A string in double quotes, escaped; everything outside printable ASCII as \uXXXX.
Public Function JsonQuote(ByVal text As String) As String
    If Not (text Like "*[!" & " " & "-~]*") Then
        If InStr(1, text, """") = 0 And InStr(1, text, "\") = 0 Then
            JsonQuote = """" & text & """"
            Exit Function
        End If
    End If
    ' One piece per character, joined once: linear, where "result = result & c" would
    ' copy the growing string for every character.
    Dim pieces() As String
    Dim index As Long
    Dim c As String
    Dim code As Long
    ReDim pieces(0 To Len(text) + 1)
    pieces(0) = """"
    For index = 1 To Len(text)
        c = Mid$(text, index, 1)
        code = AscW(c) And &HFFFF&
        If c = """" Then
            pieces(index) = "\"""
        ElseIf c = "\" Then
            pieces(index) = "\\"
        ElseIf code < 32 Or code > 126 Then
            pieces(index) = "\u" & Right$("000" & LCase$(Hex$(code)), 4)
        Else
            pieces(index) = c
        End If
    Next index
    pieces(Len(text) + 1) = """"
    JsonQuote = Join(pieces, "")
End Function
