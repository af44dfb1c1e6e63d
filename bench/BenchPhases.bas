Attribute VB_Name = "BenchPhases"
'=======================================================================================
' BenchPhases - benchmark only (bench/bench_workbook.py builds it into a COPY of the
' workbook; it is not part of excel/CreditScorer.xlsm).
'
' LibreOffice's Timer counts whole seconds, too coarse to split a run of a few seconds,
' so each phase of "Score table" is its own macro here and the benchmark times each call
' from outside. They do what BatchScoring.ScoreBatchTable does, with the same public
' functions, keeping the work between calls in module variables:
'   PhaseBuild  read the table and write the JSON request of every chunk
'   PhaseHttp   send every request (curl, files, waiting)
'   PhaseParse  read every reply into an n x 4 array of results
'   PhaseWrite  write every array into the sheet, one range assignment per chunk
'
' Errors raised: whatever the functions it calls raise.
'=======================================================================================
Option Explicit

Private mBodies() As String
Private mReplies() As String
Private mResults() As Variant
Private mFirstRows() As Long
Private mCounts() As Long
Private mChunks As Long
Private mResultColumn As Long

Public Sub PhaseBuild()
    Dim values As Variant
    Dim rowCount As Long
    Dim chunkSize As Long
    Dim firstRow As Long
    Dim lastRow As Long
    Dim region As Range
    Application.ScreenUpdating = False  ' as ScoreBatchTable does
    Set region = shBatch.Range("A1").CurrentRegion
    values = region.Value
    rowCount = region.Rows.Count - 1
    mResultColumn = 5
    chunkSize = SettingBatchSize()
    mChunks = (rowCount + chunkSize - 1) \ chunkSize
    ReDim mBodies(1 To mChunks)
    ReDim mFirstRows(1 To mChunks)
    ReDim mCounts(1 To mChunks)
    mChunks = 0
    For firstRow = 2 To rowCount + 1 Step chunkSize
        lastRow = firstRow + chunkSize - 1
        If lastRow > rowCount + 1 Then lastRow = rowCount + 1
        mChunks = mChunks + 1
        mBodies(mChunks) = BatchRequestBody(SettingDefaultModel(), values, 1, 4, firstRow, lastRow)
        mFirstRows(mChunks) = firstRow
        mCounts(mChunks) = lastRow - firstRow + 1
    Next firstRow
    shBatch.Range("O1").Value = mChunks
    Application.ScreenUpdating = True
End Sub

Public Sub PhaseHttp()
    Dim index As Long
    Application.ScreenUpdating = False  ' as ScoreBatchTable does
    ReDim mReplies(1 To mChunks)
    For index = 1 To mChunks
        mReplies(index) = SendJson("POST", "/v1/predict/batch", mBodies(index))
    Next index
    shBatch.Range("O2").Value = Len(mReplies(mChunks))
    Application.ScreenUpdating = True
End Sub

Public Sub PhaseParse()
    Dim index As Long
    Dim tableText As String
    Dim restText As String
    Dim reply As JsonObject
    Dim columns As Variant
    Dim columnMap() As Long
    Dim column As Long
    Dim names As Variant
    Dim out As Variant
    Dim rowCount As Long
    Dim total As Long
    Application.ScreenUpdating = False  ' as ScoreBatchTable does
    names = Array("probability_default", "decision", "error", "warning")
    ReDim mResults(1 To mChunks)
    For index = 1 To mChunks
        If Not JsonSplitTable(mReplies(index), "rows", tableText, restText) Then
            Err.Raise 1, "BenchPhases", "reply without the compact rows table"
        End If
        Set reply = ParseObject(restText)
        columns = reply.GetValue("columns")
        ReDim columnMap(1 To JsonLength(columns))
        For column = 1 To JsonLength(columns)
            If column <= 4 Then
                If columns(column - 1) = names(column - 1) Then columnMap(column) = column
            End If
        Next column
        If Not JsonTableToArray(tableText, mCounts(index), columnMap, 4, out, rowCount) Then
            Err.Raise 1, "BenchPhases", "rows not read"
        End If
        mResults(index) = out
        total = total + rowCount
    Next index
    shBatch.Range("O3").Value = total
    Application.ScreenUpdating = True
End Sub

Public Sub PhaseWrite()
    Dim index As Long
    Application.ScreenUpdating = False  ' as ScoreBatchTable does
    For index = 1 To mChunks
        shBatch.Cells(mFirstRows(index), mResultColumn).Resize(mCounts(index), 4).Value = mResults(index)
    Next index
    shBatch.Range("O4").Value = mChunks
    Application.ScreenUpdating = True
End Sub
