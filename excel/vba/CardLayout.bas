Attribute VB_Name = "CardLayout"
'=======================================================================================
' CardLayout - the model's card, fetched from the server, decides what the Applicant and
' Batch sheets show and send. No feature is named in this code: every name, label, unit,
' range and category comes from GET /v1/models and GET /v1/models/<name>.
'
' Applicant sheet: one row per feature under the header at the named cell InputsHeader
' (columns: label, value, unit, accepted, field name). A category feature's value cell
' gets a drop-down of its labels (the list sits in a hidden column of the same sheet).
' Values typed earlier stay with the field of the same name when another model is laid out.
' Batch sheet: PrepareBatchHeader writes id, the model's features and the result columns
' as the header row, keeps the rows of columns of the same name, and gives every category
' column a drop-down.
'
' Errors raised (the description is the message to show):
'   vbObjectError + 1501  the card is not usable (no features, too many of them)
'   anything ScoringClient raises for a failed request
'=======================================================================================
Option Explicit
Option Private Module

Public Const CARD_ERR_UNUSABLE As Long = 1501
' Rows the Applicant layout may use (and clears); a model with more features is refused.
Public Const CARD_MAX_FEATURES As Long = 120
Private Const INPUT_COLUMNS As Long = 5
' Hidden columns of drop-down lists: Applicant column 26 (Z) lists the models, 27 on the
' categories; on the Batch and Settings sheets they start at LIST_COLUMN_FAR.
Private Const LIST_COLUMN_MODELS As Long = 26
Private Const LIST_COLUMN_FAR As Long = 200
Private Const LIST_ROWS As Long = 300
Private Const BATCH_VALIDATION_ROWS As Long = 1000

' The names of the models the server serves, as a 0-based array.
Public Function ServedModels() As Variant
    Dim reply As JsonObject
    Dim models As Variant
    Dim names() As Variant
    Dim index As Long
    Dim entry As Variant
    Set reply = ParseObject(SendJson("GET", "/v1/models", vbNullString))
    models = reply.GetValue("models")
    If JsonLength(models) = 0 Then
        ServedModels = Array()
        Exit Function
    End If
    ReDim names(0 To JsonLength(models) - 1)
    For index = 0 To JsonLength(models) - 1
        JsonAssign entry, models(index)
        names(index) = JsonScalarText(entry.GetValue("name"))
    Next index
    ServedModels = names
End Function

' Re-read the served models into the model drop-downs (Applicant and Settings).
Public Sub RefreshModelLists()
    Dim names As Variant
    names = ServedModels()
    caWriteList shApplicant, LIST_COLUMN_MODELS, "models", names
    caSetListValidation caName("InputModel"), shApplicant, LIST_COLUMN_MODELS, JsonLength(names)
    caWriteList shSettings, LIST_COLUMN_FAR, "models", names
    caSetListValidation caName("DefaultModel"), shSettings, LIST_COLUMN_FAR, JsonLength(names)
End Sub

' The features array of a model's card.
Public Function CardFeatures(ByVal model As String) As Variant
    Dim card As JsonObject
    Dim features As Variant
    Set card = ParseObject(SendJson("GET", "/v1/models/" & caUrlPart(model), vbNullString))
    features = card.GetValue("features")
    If JsonLength(features) = 0 Then
        Err.Raise OBJECT_ERROR + CARD_ERR_UNUSABLE, "CardLayout.CardFeatures", _
            "The card of model '" & model & "' lists no features."
    End If
    CardFeatures = features
End Function

' Lay out the Applicant inputs of a model from its card; earlier values stay by name.
Public Sub LayOutApplicant(ByVal model As String)
    Dim features As Variant
    Dim feature As Variant
    Dim header As Range
    Dim block As Range
    Dim oldValues As Variant
    Dim cells() As Variant
    Dim count As Long
    Dim index As Long
    Dim listColumn As Long
    Dim categories As Variant

    features = CardFeatures(model)
    count = JsonLength(features)
    If count > CARD_MAX_FEATURES Then
        Err.Raise OBJECT_ERROR + CARD_ERR_UNUSABLE, "CardLayout.LayOutApplicant", _
            "Model '" & model & "' has " & count & " features; the Applicant sheet shows at most " & _
            CARD_MAX_FEATURES & ". Score it from the Batch sheet."
    End If
    Set header = caName("InputsHeader")
    Set block = header.Offset(1, 0).Resize(CARD_MAX_FEATURES, INPUT_COLUMNS)
    oldValues = block.Value

    ReDim cells(1 To count, 1 To INPUT_COLUMNS)
    For index = 1 To count
        JsonAssign feature, features(index - 1)
        cells(index, 1) = caFeatureLabel(feature)
        cells(index, 2) = caKeptValue(oldValues, JsonScalarText(feature.GetValue("name")), feature)
        cells(index, 3) = JsonScalarText(feature.GetValue("unit"))
        cells(index, 4) = caAcceptedText(feature)
        cells(index, 5) = JsonScalarText(feature.GetValue("name"))
    Next index

    block.ClearContents
    block.Columns(2).Validation.Delete
    shApplicant.Cells(1, LIST_COLUMN_MODELS + 1).Resize(LIST_ROWS, CARD_MAX_FEATURES).ClearContents
    block.Resize(count, INPUT_COLUMNS).Value = cells

    listColumn = LIST_COLUMN_MODELS + 1
    For index = 1 To count
        JsonAssign feature, features(index - 1)
        categories = feature.GetValue("categories")
        If JsonLength(categories) > 0 Then
            caWriteList shApplicant, listColumn, JsonScalarText(feature.GetValue("name")), caLabels(categories)
            caSetListValidation block.Cells(index, 2), shApplicant, listColumn, JsonLength(categories)
            listColumn = listColumn + 1
        End If
    Next index
    caName("InputsModel").Value = model
End Sub

' The JSON body of /v1/predict for the laid-out inputs: every feature by its name.
Public Function ApplicantRequestBody(ByVal model As String) As String
    Dim values As Variant
    Dim index As Long
    Dim body As String
    Dim name As String
    values = caName("InputsHeader").Offset(1, 0).Resize(CARD_MAX_FEATURES, INPUT_COLUMNS).Value
    body = "{""model"":" & JsonQuote(model)
    For index = 1 To CARD_MAX_FEATURES
        name = Trim$(CStr(values(index, 5)))
        If Len(name) = 0 Then Exit For
        body = body & "," & JsonQuote(name) & ":" & JsonValue(values(index, 2))
    Next index
    ApplicantRequestBody = body & "}"
End Function

' Write the Batch table's header row for a model: id, its features, the result columns.
' Rows already in the table keep the columns whose header is a feature of the model (or id);
' returns the headers of columns that were dropped, "" when none.
Public Function PrepareBatchHeader(ByVal model As String, ByRef resultNames As Variant) As String
    Dim features As Variant
    Dim feature As Variant
    Dim region As Range
    Dim oldValues As Variant
    Dim oldRows As Long
    Dim oldColumns As Long
    Dim headers() As String
    Dim cells() As Variant
    Dim width As Long
    Dim index As Long
    Dim column As Long
    Dim source As Long
    Dim rowIndex As Long
    Dim dropped As String
    Dim listColumn As Long
    Dim categories As Variant
    Dim used() As Boolean
    Dim validationRows As Long

    features = CardFeatures(model)
    width = JsonLength(features) + 1 + JsonLength(resultNames)
    ReDim headers(1 To width)
    headers(1) = "id"
    For index = 1 To JsonLength(features)
        JsonAssign feature, features(index - 1)
        headers(index + 1) = JsonScalarText(feature.GetValue("name"))
    Next index
    For index = 0 To JsonLength(resultNames) - 1
        headers(JsonLength(features) + 2 + index) = resultNames(index)
    Next index

    Set region = shBatch.Range("A1").CurrentRegion
    oldValues = region.Value
    oldRows = region.Rows.Count - 1
    oldColumns = region.Columns.Count
    If Not IsArray(oldValues) Then oldRows = 0
    If oldRows < 0 Then oldRows = 0
    ReDim used(1 To oldColumns)
    ReDim cells(1 To oldRows + 1, 1 To width)
    For column = 1 To width
        cells(1, column) = headers(column)
        If column <= JsonLength(features) + 1 Then
            source = caFindHeader(oldValues, oldColumns, headers(column))
            If source > 0 Then
                used(source) = True
                For rowIndex = 1 To oldRows
                    cells(rowIndex + 1, column) = oldValues(rowIndex + 1, source)
                Next rowIndex
            End If
        End If
    Next column
    For column = 1 To oldColumns
        If Not used(column) And IsArray(oldValues) Then
            If caFindHeader(resultNames, -1, CStr(oldValues(1, column))) = 0 And _
               Len(Trim$(CStr(oldValues(1, column)))) > 0 Then
                If Len(dropped) > 0 Then dropped = dropped & ", "
                dropped = dropped & CStr(oldValues(1, column))
            End If
        End If
    Next column

    validationRows = oldRows
    If validationRows < BATCH_VALIDATION_ROWS Then validationRows = BATCH_VALIDATION_ROWS
    region.ClearContents
    shBatch.Range("A2").Resize(validationRows, width).Validation.Delete
    shBatch.Range("A1").Resize(oldRows + 1, width).Value = cells
    ' Excel resizes its table to the new header; LibreOffice has no ListObjects (error 423).
    On Error Resume Next
    shBatch.ListObjects(1).Resize shBatch.Range("A1").Resize(oldRows + 1, width)
    On Error GoTo 0

    shBatch.Cells(1, LIST_COLUMN_FAR).Resize(LIST_ROWS, CARD_MAX_FEATURES).ClearContents
    listColumn = LIST_COLUMN_FAR
    For index = 1 To JsonLength(features)
        JsonAssign feature, features(index - 1)
        categories = feature.GetValue("categories")
        If JsonLength(categories) > 0 Then
            caWriteList shBatch, listColumn, headers(index + 1), caLabels(categories)
            caSetListValidation shBatch.Cells(2, index + 1).Resize(validationRows, 1), shBatch, _
                                listColumn, JsonLength(categories)
            listColumn = listColumn + 1
        End If
    Next index
    PrepareBatchHeader = dropped
End Function

' ---------------------------------------------------------------------------------------

Private Function caFindHeader(ByRef values As Variant, ByVal columnCount As Long, _
                              ByVal wanted As String) As Long
    Dim index As Long
    wanted = LCase$(Trim$(wanted))
    If Len(wanted) = 0 Then Exit Function
    If columnCount < 0 Then
        ' a 0-based list of names
        For index = LBound(values) To UBound(values)
            If LCase$(values(index)) = wanted Then
                caFindHeader = index + 1
                Exit Function
            End If
        Next index
        Exit Function
    End If
    If Not IsArray(values) Then Exit Function
    For index = 1 To columnCount
        If LCase$(Trim$(CStr(values(1, index)))) = wanted Then
            caFindHeader = index
            Exit Function
        End If
    Next index
End Function

' The value typed earlier for a field of this name; a category code shows as its label.
Private Function caKeptValue(ByRef oldValues As Variant, ByVal name As String, _
                             ByVal feature As Object) As Variant
    Dim index As Long
    Dim categories As Variant
    Dim entry As Variant
    Dim kept As Variant
    For index = 1 To CARD_MAX_FEATURES
        If CStr(oldValues(index, 5)) = name And Len(name) > 0 Then
            kept = oldValues(index, 2)
            Exit For
        End If
    Next index
    categories = feature.GetValue("categories")
    If JsonLength(categories) > 0 And Not IsEmpty(kept) Then
        For index = 0 To JsonLength(categories) - 1
            JsonAssign entry, categories(index)
            If LCase$(Trim$(CStr(kept))) = LCase$(JsonScalarText(entry.GetValue("code"))) Then
                kept = JsonScalarText(entry.GetValue("label"))
                Exit For
            End If
        Next index
    End If
    caKeptValue = kept
End Function

Private Function caFeatureLabel(ByVal feature As Object) As String
    caFeatureLabel = JsonScalarText(feature.GetValue("label"))
    If Len(caFeatureLabel) = 0 Then caFeatureLabel = JsonScalarText(feature.GetValue("description"))
    If Len(caFeatureLabel) = 0 Then caFeatureLabel = JsonScalarText(feature.GetValue("name"))
End Function

' The accepted range as a note: "1 to 120", "more than 0 to 1000000", "pick from the list".
Private Function caAcceptedText(ByVal feature As Object) As String
    Dim accepted As Variant
    Dim lowText As String
    Dim highText As String
    If JsonLength(feature.GetValue("categories")) > 0 Then
        caAcceptedText = "one of " & JsonLength(feature.GetValue("categories")) & _
                         " (pick from the list)"
        Exit Function
    End If
    JsonAssign accepted, feature.GetValue("accepted")
    If Not IsObject(accepted) Then Exit Function
    lowText = JsonNumber(accepted.GetValue("min"))
    highText = JsonNumber(accepted.GetValue("max"))
    If accepted.GetValue("min_exclusive") = True Then lowText = "more than " & lowText
    If accepted.GetValue("max_exclusive") = True Then highText = "less than " & highText
    caAcceptedText = lowText & " to " & highText
    If JsonScalarText(feature.GetValue("type")) = "integer" Then
        caAcceptedText = caAcceptedText & ", whole numbers"
    End If
End Function

Private Function caLabels(ByVal categories As Variant) As Variant
    Dim labels() As Variant
    Dim index As Long
    Dim entry As Variant
    ReDim labels(0 To JsonLength(categories) - 1)
    For index = 0 To JsonLength(categories) - 1
        JsonAssign entry, categories(index)
        labels(index) = JsonScalarText(entry.GetValue("label"))
        If Len(labels(index)) = 0 Then labels(index) = JsonScalarText(entry.GetValue("code"))
    Next index
    caLabels = labels
End Function

' A list in one column of a sheet: its title in row 1, the items from row 2.
Private Sub caWriteList(ByVal sheet As Worksheet, ByVal column As Long, ByVal title As String, _
                        ByVal items As Variant)
    Dim cells() As Variant
    Dim index As Long
    sheet.Cells(1, column).Resize(LIST_ROWS, 1).ClearContents
    ReDim cells(1 To JsonLength(items) + 1, 1 To 1)
    cells(1, 1) = title
    For index = 1 To JsonLength(items)
        cells(index + 1, 1) = items(index - 1)
    Next index
    sheet.Cells(1, column).Resize(JsonLength(items) + 1, 1).Value = cells
End Sub

' A drop-down of the list in a column of the same sheet (a same-sheet reference works in
' every Excel and in LibreOffice; a reference to another sheet did not survive LibreOffice).
Private Sub caSetListValidation(ByVal target As Range, ByVal sheet As Worksheet, _
                                ByVal column As Long, ByVal count As Long)
    Dim source As String
    target.Validation.Delete
    If count < 1 Then Exit Sub
    source = "=" & sheet.Cells(2, column).Resize(count, 1).Address
    ' Type 3 = xlValidateList, AlertStyle 2 = xlValidAlertWarning (the server has the last
    ' word: a code typed by hand is valid too), Operator 1 = xlBetween.
    target.Validation.Add Type:=3, AlertStyle:=2, Operator:=1, Formula1:=source
End Sub

Private Function caUrlPart(ByVal text As String) As String
    Dim index As Long
    Dim c As String
    For index = 1 To Len(text)
        c = Mid$(text, index, 1)
        If c Like "[A-Za-z0-9._~-]" Then
            caUrlPart = caUrlPart & c
        Else
            caUrlPart = caUrlPart & "%" & Right$("0" & Hex$(AscW(c) And 255), 2)
        End If
    Next index
End Function

Private Function caName(ByVal name As String) As Range
    Set caName = ThisWorkbook.Names(name).RefersToRange
End Function
