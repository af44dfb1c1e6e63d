Attribute VB_Name = "CreditScorerButtons"
'=======================================================================================
' CreditScorerButtons - the macros the workbook's buttons run, and the only code that
' talks to the user. Each one writes what it shows into cells too, so the result stays
' visible (and so that tests, which cannot see a message box, can check it). Not named
' "Buttons": that is a hidden class of Excel's object model.
'
'   ScoreApplicant   Applicant sheet, "Score applicant" (lays out the inputs first when
'                    the chosen model is not the one they were laid out for)
'   ShowInputs       Applicant sheet, "Show inputs": the chosen model's inputs from its card
'   RefreshModels    Applicant sheet, "Refresh models": re-read the served models
'   ScoreTable       Batch sheet, "Score table"
'   PrepareTable     Batch sheet, "Prepare table": the header row of Settings > Default model
'   TestConnection   Settings sheet, "Test connection"
'
' Errors raised: none; every failure ends in a message box and a status cell.
'=======================================================================================
Option Explicit

Private Const TITLE As String = "CreditScorer"

' Score the applicant laid out on the Applicant sheet and write the reply into the result
' cells; reasons go one per feature, largest first, as the server orders them.
Public Sub ScoreApplicant()
    Dim reply As JsonObject
    Dim rawReply As String
    Dim model As String
    Dim reasons As Variant
    Dim reasonCells() As Variant
    Dim entry As Variant
    Dim index As Long

    On Error GoTo CleanFail
    btClearApplicantResults
    btCell("ResultStatus").Value = "Scoring..."
    model = btChosenModel()
    If model <> Trim$(CStr(btCell("InputsModel").Value)) Then LayOutApplicant model

    Set reply = PredictOne(ApplicantRequestBody(model), rawReply)

    btCell("ResultProbability").Value = reply.GetValue("probability_default")
    btCell("ResultDecision").Value = reply.GetValue("decision")
    btCell("ResultThreshold").Value = reply.GetValue("threshold")
    btCell("ResultModel").Value = reply.GetValue("model")
    btCell("ResultModelVersion").Value = reply.GetValue("model_version")
    btCell("ResultWarnings").Value = WarningsText(reply.GetValue("warnings"))
    btCell("ResultRequestId").Value = reply.GetValue("request_id")
    reasons = reply.GetValue("reasons")
    ReDim reasonCells(1 To CARD_MAX_FEATURES, 1 To 2)
    For index = 0 To JsonLength(reasons) - 1
        If index >= CARD_MAX_FEATURES Then Exit For
        JsonAssign entry, reasons(index)
        If IsObject(entry) Then
            reasonCells(index + 1, 1) = entry.GetValue("feature")
            reasonCells(index + 1, 2) = entry.GetValue("contribution")
        End If
    Next index
    btCell("ResultReasons").Resize(CARD_MAX_FEATURES, 2).Value = reasonCells
    btCell("ResultJson").Value = Left$(rawReply, 32000)
    btCell("ResultStatus").Value = "OK"
    MsgBox rawReply, vbInformation, TITLE & " - reply"

CleanExit:
    Exit Sub
CleanFail:
    btReportError btCell("ResultStatus"), Err.Description
    Resume CleanExit
End Sub

' Lay out the chosen model's inputs from its card.
Public Sub ShowInputs()
    Dim model As String
    On Error GoTo CleanFail
    btClearApplicantResults
    model = btChosenModel()
    LayOutApplicant model
    btCell("ResultStatus").Value = "Inputs of model '" & model & "': fill them in, then Score applicant."

CleanExit:
    Exit Sub
CleanFail:
    btReportError btCell("ResultStatus"), Err.Description
    Resume CleanExit
End Sub

' Re-read the models the server serves into the model drop-downs, then lay out the inputs.
Public Sub RefreshModels()
    Dim model As String
    On Error GoTo CleanFail
    btClearApplicantResults
    RefreshModelLists
    model = btChosenModel()
    LayOutApplicant model
    btCell("ResultStatus").Value = "Models: " & Join(ServedModels(), ", ") & "."

CleanExit:
    Exit Sub
CleanFail:
    btReportError btCell("ResultStatus"), Err.Description
    Resume CleanExit
End Sub

' Write the Batch table's header row for Settings > Default model.
Public Sub PrepareTable()
    Dim model As String
    Dim dropped As String
    Dim message As String
    On Error GoTo CleanFail
    model = SettingDefaultModel()
    dropped = PrepareBatchHeader(model, BatchResultNames())
    message = "Table ready for model '" & model & "'."
    If Len(dropped) > 0 Then message = message & " Columns the model does not use were removed: " & dropped & "."
    btCell("BatchStatus").Value = message
    btCell("BatchModel").Value = model
    MsgBox message, vbInformation, TITLE

CleanExit:
    Exit Sub
CleanFail:
    btReportError btCell("BatchStatus"), Err.Description
    Resume CleanExit
End Sub

' Score every row of the Batch table.
Public Sub ScoreTable()
    Dim summary As String
    On Error GoTo CleanFail
    summary = ScoreBatchTable()
    MsgBox summary, vbInformation, TITLE

CleanExit:
    Exit Sub
CleanFail:
    ' ScoreBatchTable has written the error into Batch!BatchStatus already.
    MsgBox Err.Description, vbExclamation, TITLE
    Resume CleanExit
End Sub

' Ask the server which models it serves, and check the API key against a keyed route.
Public Sub TestConnection()
    Dim reply As JsonObject
    Dim rawReply As String
    Dim models As Variant
    Dim listing As String
    Dim index As Long
    Dim message As String

    On Error GoTo CleanFail
    btCell("ConnectionStatus").Value = "Connecting..."
    btCell("ConnectionModels").Value = Empty

    Set reply = Health(rawReply)
    JsonAssign models, reply.GetValue("models")
    If IsObject(models) Then
        For index = 0 To models.KeyCount - 1
            If Len(listing) > 0 Then listing = listing & "; "
            listing = listing & models.KeyAt(index) & " " & CStr(models.GetValue(models.KeyAt(index)))
        Next index
    End If
    btCell("ConnectionModels").Value = listing
    ' /health never needs a key: a keyed route tells whether the key in Settings works.
    SendJson "GET", "/v1/models", vbNullString
    message = "Connected to " & SettingApiUrl() & " (status " & CStr(reply.GetValue("status")) & _
              "). Models: " & listing
    btCell("ConnectionStatus").Value = "OK: " & message
    MsgBox message, vbInformation, TITLE

CleanExit:
    Exit Sub
CleanFail:
    btReportError btCell("ConnectionStatus"), Err.Description
    Resume CleanExit
End Sub

Private Sub btReportError(ByVal statusCell As Range, ByVal message As String)
    statusCell.Value = "Error: " & message
    MsgBox message, vbExclamation, TITLE
End Sub

Private Sub btClearApplicantResults()
    Dim names As Variant
    Dim index As Long
    names = Array("ResultStatus", "ResultProbability", "ResultDecision", "ResultThreshold", _
                  "ResultModel", "ResultModelVersion", "ResultWarnings", "ResultRequestId", _
                  "ResultJson")
    For index = LBound(names) To UBound(names)
        btCell(names(index)).Value = Empty
    Next index
    btCell("ResultReasons").Resize(CARD_MAX_FEATURES, 2).ClearContents
End Sub

Private Function btChosenModel() As String
    btChosenModel = Trim$(CStr(btCell("InputModel").Value))
    If Len(btChosenModel) = 0 Then btChosenModel = SettingDefaultModel()
End Function

Private Function btCell(ByVal name As String) As Range
    Set btCell = ThisWorkbook.Names(name).RefersToRange
End Function
