Attribute VB_Name = "BatchScoring"
'=======================================================================================
' BatchScoring - scores the table on the Batch sheet in chunks of Settings > Batch size.
'
' The table starts at Batch!A1 (headers in row 1: id and the model's features, matched by
' name by the server, then the result columns probability_default, decision, error,
' warning) and is read through
' CurrentRegion, which grows with pasted rows (LibreOffice cannot read ListObjects).
' The whole table is read in one go; each chunk is one request and ONE range assignment
' of its results; the status bar shows progress; the summary goes to the named cells
' BatchRows, BatchScored, ... on the Batch sheet, timings included.
'
' Errors raised (the description is the message to show):
'   vbObjectError + 1401  the table has no rows or its headers are unusable
'   vbObjectError + 1402  the reply does not match the request (rows or columns missing)
'   anything ScoringClient raises for a failed request, prefixed with the rows it was for
'=======================================================================================
Option Explicit
Option Private Module

Public Const BATCH_ERR_TABLE As Long = 1401
Public Const BATCH_ERR_REPLY As Long = 1402
Private Const RESULT_COLUMNS As Long = 4

' The result columns the table gets, in order (0-based array).
Public Function BatchResultNames() As Variant
    BatchResultNames = Array("probability_default", "decision", "error", "warning")
End Function

' Score every row of the Batch table; returns the summary line shown to the user.
Public Function ScoreBatchTable() As String
    Dim region As Range
    Dim values As Variant
    Dim rowCount As Long
    Dim resultColumn As Long
    Dim lastInput As Long
    Dim model As String
    Dim chunkSize As Long
    Dim firstRow As Long
    Dim lastRow As Long
    Dim body As String
    Dim replyText As String
    Dim results As Variant
    Dim scored As Long, failed As Long, warned As Long
    Dim started As Double, mark As Double
    Dim jsonSeconds As Double, httpSeconds As Double, writeSeconds As Double
    Dim savedUpdating As Boolean
    Dim failure As String

    started = ClockSeconds()
    savedUpdating = Application.ScreenUpdating
    On Error GoTo CleanFail

    Set region = shBatch.Range("A1").CurrentRegion
    values = region.Value
    rowCount = region.Rows.Count - 1
    If rowCount < 1 Or Not IsArray(values) Then
        Err.Raise OBJECT_ERROR + BATCH_ERR_TABLE, "BatchScoring.ScoreBatchTable", _
            "The Batch table is empty: press Prepare table, then paste rows under the headers."
    End If
    resultColumn = bsResultColumn(values, region.Columns.Count)
    lastInput = resultColumn - 1
    If lastInput < 1 Then
        Err.Raise OBJECT_ERROR + BATCH_ERR_TABLE, "BatchScoring.ScoreBatchTable", _
            "The Batch table has no input columns before probability_default."
    End If
    bsWriteResultHeaders resultColumn

    model = SettingDefaultModel()
    chunkSize = SettingBatchSize()
    bsWriteSummary "Scoring...", rowCount, Empty, Empty, Empty, Empty, Empty, Empty, Empty, model
    Application.ScreenUpdating = False
    shBatch.Cells(2, resultColumn).Resize(rowCount, RESULT_COLUMNS).ClearContents

    ' values(1, ...) holds the headers, so table row r is values(r + 1, ...).
    For firstRow = 2 To rowCount + 1 Step chunkSize
        lastRow = firstRow + chunkSize - 1
        If lastRow > rowCount + 1 Then lastRow = rowCount + 1
        Application.StatusBar = "CreditScorer: scoring rows " & (firstRow - 1) & "-" & _
                                (lastRow - 1) & " of " & rowCount & "..."

        mark = ClockSeconds()
        body = BatchRequestBody(model, values, 1, lastInput, firstRow, lastRow)
        jsonSeconds = jsonSeconds + SecondsSince(mark)

        failure = "rows " & (firstRow - 1) & "-" & (lastRow - 1)
        replyText = SendJson("POST", "/v1/predict/batch", body)
        httpSeconds = httpSeconds + LastHttpSeconds()

        mark = ClockSeconds()
        results = bsReplyToArray(replyText, lastRow - firstRow + 1, scored, failed, warned)
        jsonSeconds = jsonSeconds + SecondsSince(mark)
        failure = vbNullString

        mark = ClockSeconds()
        shBatch.Cells(firstRow, resultColumn).Resize(lastRow - firstRow + 1, RESULT_COLUMNS).Value = results
        writeSeconds = writeSeconds + SecondsSince(mark)
    Next firstRow

    bsWriteSummary "Done", rowCount, scored, failed, warned, SecondsSince(started), _
                   jsonSeconds, httpSeconds, writeSeconds, model
    ScoreBatchTable = "Scored " & scored & " of " & rowCount & " rows with model '" & model & _
                      "' (" & failed & " failed, " & warned & " with warnings) in " & _
                      Format$(SecondsSince(started), "0.0") & " s."

CleanExit:
    Application.StatusBar = False
    Application.ScreenUpdating = savedUpdating
    Exit Function

CleanFail:
    Dim number As Long, source As String, description As String
    number = Err.Number
    source = Err.Source
    description = Err.Description
    If Len(failure) > 0 Then
        description = "Scoring stopped at " & failure & " of " & rowCount & _
                      " (rows before them are scored):" & vbLf & description
    End If
    Application.StatusBar = False
    Application.ScreenUpdating = savedUpdating
    ' The summary is best effort here: the error being reported matters more.
    On Error Resume Next
    bsWriteSummary "Error: " & description, rowCount, scored, failed, warned, _
                   SecondsSince(started), jsonSeconds, httpSeconds, writeSeconds, model
    On Error GoTo 0
    Err.Raise number, source, description
End Function

' The column of "probability_default" in the header row, or the first free column.
Private Function bsResultColumn(ByRef values As Variant, ByVal columnCount As Long) As Long
    Dim index As Long
    For index = 1 To columnCount
        If LCase$(Trim$(CStr(values(1, index)))) = "probability_default" Then
            bsResultColumn = index
            Exit Function
        End If
    Next index
    bsResultColumn = columnCount + 1
End Function

Private Sub bsWriteResultHeaders(ByVal resultColumn As Long)
    Dim headers(1 To 1, 1 To RESULT_COLUMNS) As Variant
    headers(1, 1) = "probability_default"
    headers(1, 2) = "decision"
    headers(1, 3) = "error"
    headers(1, 4) = "warning"
    shBatch.Cells(1, resultColumn).Resize(1, RESULT_COLUMNS).Value = headers
End Sub

' The reply's rows as an n x 4 array (probability, decision, error, warning), columns
' found by name; adds the reply's scored, failed and warned counts to the totals.
Private Function bsReplyToArray(ByVal replyText As String, ByVal expectedRows As Long, _
                                ByRef scored As Long, ByRef failed As Long, _
                                ByRef warned As Long) As Variant
    Dim reply As JsonObject
    Dim tableText As String
    Dim restText As String
    Dim columns As Variant
    Dim columnMap() As Long
    Dim names As Variant
    Dim out As Variant
    Dim rowCount As Long
    Dim index As Long
    Dim target As Long
    Dim fast As Boolean

    ' The fast reader for the rows; the general one for the few other keys (and for the
    ' rows too, should they not have the compact shape).
    fast = JsonSplitTable(replyText, "rows", tableText, restText)
    If fast Then
        Set reply = ParseObject(restText)
    Else
        Set reply = ParseObject(replyText)
    End If
    columns = reply.GetValue("columns")
    If JsonLength(columns) = 0 Then
        Err.Raise OBJECT_ERROR + BATCH_ERR_REPLY, "BatchScoring.bsReplyToArray", _
            "The server's batch reply has no columns."
    End If
    names = Array("probability_default", "decision", "error", "warning")
    ReDim columnMap(1 To JsonLength(columns))
    For index = 1 To JsonLength(columns)
        For target = 1 To RESULT_COLUMNS
            If columns(index - 1) = names(target - 1) Then columnMap(index) = target
        Next target
    Next index
    For target = 1 To 3
        If bsMapped(columnMap, target) = False Then
            Err.Raise OBJECT_ERROR + BATCH_ERR_REPLY, "BatchScoring.bsReplyToArray", _
                "The server's batch reply lacks the column " & names(target - 1) & "."
        End If
    Next target

    If fast Then fast = JsonTableToArray(tableText, expectedRows, columnMap, RESULT_COLUMNS, out, rowCount)
    If Not fast Then
        Set reply = ParseObject(replyText)
        bsRowsToArray reply.GetValue("rows"), expectedRows, columnMap, out, rowCount
    End If
    If rowCount <> expectedRows Then
        Err.Raise OBJECT_ERROR + BATCH_ERR_REPLY, "BatchScoring.bsReplyToArray", _
            "The server answered " & rowCount & " rows for " & expectedRows & " sent."
    End If
    bsAddCounts reply.GetValue("summary"), out, expectedRows, scored, failed, warned
    bsReplyToArray = out
End Function

Private Function bsMapped(ByRef columnMap() As Long, ByVal target As Long) As Boolean
    Dim index As Long
    For index = LBound(columnMap) To UBound(columnMap)
        If columnMap(index) = target Then bsMapped = True
    Next index
End Function

' The general reader's rows (arrays of values) into the n x 4 result array.
Private Sub bsRowsToArray(ByVal rows As Variant, ByVal expectedRows As Long, _
                          ByRef columnMap() As Long, ByRef out As Variant, ByRef rowCount As Long)
    Dim block() As Variant
    Dim row As Variant
    Dim index As Long
    Dim column As Long
    rowCount = JsonLength(rows)
    If rowCount <> expectedRows Then Exit Sub
    ReDim block(1 To expectedRows, 1 To RESULT_COLUMNS)
    For index = 1 To rowCount
        row = rows(index - 1)
        For column = 1 To JsonLength(row)
            If column <= UBound(columnMap) Then
                If columnMap(column) > 0 And Not IsNull(row(column - 1)) Then
                    block(index, columnMap(column)) = row(column - 1)
                End If
            End If
        Next column
    Next index
    out = block
End Sub

' Scored/failed/warned from the reply's summary, or counted when it has none.
Private Sub bsAddCounts(ByVal summary As Variant, ByRef out As Variant, ByVal rowCount As Long, _
                        ByRef scored As Long, ByRef failed As Long, ByRef warned As Long)
    Dim index As Long
    If IsObject(summary) Then
        If summary.HasKey("scored") And summary.HasKey("failed") Then
            scored = scored + CLng(summary.GetValue("scored"))
            failed = failed + CLng(summary.GetValue("failed"))
            If summary.HasKey("warned") Then
                warned = warned + CLng(summary.GetValue("warned"))
            Else
                For index = 1 To rowCount
                    If Not IsEmpty(out(index, 4)) Then warned = warned + 1
                Next index
            End If
            Exit Sub
        End If
    End If
    For index = 1 To rowCount
        If Not IsEmpty(out(index, 1)) Then scored = scored + 1
        If Not IsEmpty(out(index, 3)) Then failed = failed + 1
        If Not IsEmpty(out(index, 4)) Then warned = warned + 1
    Next index
End Sub

Private Sub bsWriteSummary(ByVal status As String, ByVal rows As Variant, ByVal scored As Variant, _
                           ByVal failed As Variant, ByVal warned As Variant, _
                           ByVal seconds As Variant, ByVal jsonSeconds As Variant, _
                           ByVal httpSeconds As Variant, ByVal writeSeconds As Variant, _
                           ByVal model As String)
    bsName("BatchStatus").Value = status
    bsName("BatchRows").Value = rows
    bsName("BatchScored").Value = scored
    bsName("BatchFailed").Value = failed
    bsName("BatchWarned").Value = warned
    bsName("BatchSeconds").Value = seconds
    bsName("BatchJsonSeconds").Value = jsonSeconds
    bsName("BatchHttpSeconds").Value = httpSeconds
    bsName("BatchWriteSeconds").Value = writeSeconds
    bsName("BatchModel").Value = model
End Sub

Private Function bsName(ByVal name As String) As Range
    Set bsName = ThisWorkbook.Names(name).RefersToRange
End Function
