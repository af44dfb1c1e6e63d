Attribute VB_Name = "JsonHarness"
'=======================================================================================
' JsonHarness - test-only module (tests/test_json_vba.py builds it into a copy of the
' workbook): runs Json.bas on the cases in ReadMe!D:E and writes each answer into F.
'
'   E = parse      D is a JSON text; F gets "ok " & the value written back, or "error ..."
'   E = parsehex   the same, D holds the text as UTF-16 code units in hex (4 digits each)
'   E = number     D is a number; F gets "n:" & JsonNumber(D)
'
' Errors raised: none; every failure is written into F.
'=======================================================================================
Option Explicit

Public Sub RunJsonCases()
    Dim sheet As Object
    Dim r As Long
    Dim kind As String
    Set sheet = ThisWorkbook.Worksheets("ReadMe")
    r = 1
    Do While Len(CStr(sheet.Cells(r, 5).Value)) > 0
        kind = CStr(sheet.Cells(r, 5).Value)
        If kind = "number" Then
            sheet.Cells(r, 6).Value = "n:" & JsonNumber(CDbl(sheet.Cells(r, 4).Value))
        ElseIf kind = "parsehex" Then
            sheet.Cells(r, 6).Value = jhParse(jhFromHex(CStr(sheet.Cells(r, 4).Value)))
        Else
            sheet.Cells(r, 6).Value = jhParse(CStr(sheet.Cells(r, 4).Value))
        End If
        r = r + 1
    Loop
End Sub

Private Function jhFromHex(ByVal hexText As String) As String
    Dim index As Long
    Dim result As String
    For index = 1 To Len(hexText) Step 4
        result = result & ChrW$(CLng("&H" & Mid$(hexText, index, 4)))
    Next index
    jhFromHex = result
End Function

Private Function jhParse(ByVal text As String) As String
    Dim parsed As Variant
    On Error GoTo Failed
    JsonAssign parsed, JsonParse(text)
    jhParse = "ok " & jhDump(parsed)
    Exit Function
Failed:
    jhParse = "error " & Err.Number & " " & Err.Description
End Function

Private Function jhDump(ByRef node As Variant) As String
    If IsObject(node) Then
        jhDump = jhDumpObject(node)
    ElseIf IsArray(node) Then
        jhDump = jhDumpArray(node)
    Else
        jhDump = JsonValue(node)
    End If
End Function

Private Function jhDumpObject(ByVal target As JsonObject) As String
    Dim parts() As String
    Dim index As Long
    Dim child As Variant
    If target.KeyCount = 0 Then
        jhDumpObject = "{}"
        Exit Function
    End If
    ReDim parts(0 To target.KeyCount - 1)
    For index = 0 To target.KeyCount - 1
        JsonAssign child, target.GetValue(target.KeyAt(index))
        parts(index) = JsonQuote(target.KeyAt(index)) & ":" & jhDump(child)
    Next index
    jhDumpObject = "{" & Join(parts, ",") & "}"
End Function

Private Function jhDumpArray(ByRef items As Variant) As String
    Dim parts() As String
    Dim index As Long
    Dim child As Variant
    If JsonLength(items) = 0 Then
        jhDumpArray = "[]"
        Exit Function
    End If
    ReDim parts(0 To JsonLength(items) - 1)
    For index = 0 To JsonLength(items) - 1
        JsonAssign child, items(index)
        parts(index) = jhDump(child)
    Next index
    jhDumpArray = "[" & Join(parts, ",") & "]"
End Function
