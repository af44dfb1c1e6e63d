Attribute VB_Name = "ScoringClient"
'=======================================================================================
' ScoringClient - the CreditScorer API from VBA: builds request bodies from cell values,
' sends them with HttpTransport, parses replies with Json, and turns every failure into
' a message a user can act on (server not running, timeout, key, invalid input, too big).
'
' Routes: GET /health, POST /v1/predict, POST /v1/predict/batch (see README / API docs).
' Batch replies are read by column NAME ("columns"), never by position.
'
' Errors raised (the description is the message to show):
'   vbObjectError + 1201  the request got no reply (server down, timeout, no curl ...)
'   vbObjectError + 1202  the server answered with an error status (4xx/5xx)
'   vbObjectError + 1203  the reply is not what the API promises
'=======================================================================================
Option Explicit
Option Private Module

Public Const CLIENT_ERR_TRANSPORT As Long = 1201
Public Const CLIENT_ERR_STATUS As Long = 1202
Public Const CLIENT_ERR_REPLY As Long = 1203

Private mLastHttpSeconds As Double
' Text with a character outside printable ASCII (which JsonQuote escapes).
Private Const PLAIN_TEXT_PATTERN As String = "*[! -~]*"

' Score one applicant: body is the JSON of /v1/predict (CardLayout.ApplicantRequestBody);
' rawReply receives the JSON text as the server sent it.
Public Function PredictOne(ByVal body As String, ByRef rawReply As String) As JsonObject
    rawReply = SendJson("POST", "/v1/predict", body)
    Set PredictOne = ParseObject(rawReply)
End Function

' GET /health: {"status":"ok","models":{"logistic":"<version>",...}}.
Public Function Health(ByRef rawReply As String) As JsonObject
    rawReply = SendJson("GET", "/health", vbNullString)
    Set Health = ParseObject(rawReply)
End Function

' The body of a batch request for rows firstRow..lastRow of a 2-D array of cell values
' (row 1 of the array holds the headers, which become "columns").
Public Function BatchRequestBody(ByVal model As String, ByRef values As Variant, _
                                 ByVal firstColumn As Long, ByVal lastColumn As Long, _
                                 ByVal firstRow As Long, ByVal lastRow As Long) As String
    Dim buffer As StringBuffer
    Dim rowIndex As Long
    Dim columnIndex As Long
    Dim line As String
    Dim cell As Variant
    Dim kind As Long
    Set buffer = New StringBuffer
    buffer.Append "{""model"":" & JsonQuote(model) & ",""columns"":["
    For columnIndex = firstColumn To lastColumn
        If columnIndex > firstColumn Then buffer.Append ","
        buffer.Append JsonQuote(Trim$(CStr(values(1, columnIndex))))
    Next columnIndex
    buffer.Append "],""rows"":["
    For rowIndex = firstRow To lastRow
        ' One short string per row, then one Append: cheap, and never quadratic. Numbers and
        ' plain text are written inline (a call per cell costs seconds in LibreOffice);
        ' Str$ puts a space before positive numbers, which JSON allows.
        line = "["
        For columnIndex = firstColumn To lastColumn
            cell = values(rowIndex, columnIndex)
            kind = VarType(cell)
            If kind = 5 Then  ' vbDouble, what cells hold numbers as
                If Abs(cell) >= 1 Then
                    line = line & Str$(cell) & ","
                Else
                    line = line & JsonNumber(cell) & ","
                End If
            ElseIf kind = 8 Then  ' vbString
                If (cell Like PLAIN_TEXT_PATTERN) Or InStr(1, cell, """") > 0 _
                   Or InStr(1, cell, "\") > 0 Then
                    line = line & JsonQuote(cell) & ","
                Else
                    line = line & """" & cell & ""","
                End If
            Else
                line = line & JsonValue(cell) & ","
            End If
        Next columnIndex
        If rowIndex < lastRow Then
            buffer.Append Left$(line, Len(line) - 1) & "],"
        Else
            buffer.Append Left$(line, Len(line) - 1) & "]"
        End If
    Next rowIndex
    buffer.Append "]}"
    BatchRequestBody = buffer.ToString()
End Function

' Send a request to the API; returns the reply text of a 2xx answer, raises otherwise.
Public Function SendJson(ByVal method As String, ByVal path As String, ByVal body As String) As String
    Dim url As String
    Dim status As Long
    Dim replyText As String
    Dim failure As Long
    Dim detail As String
    url = SettingApiUrl() & path
    status = HttpSend(method, url, body, SettingApiKey(), SettingTimeoutSeconds(), _
                      replyText, failure, detail)
    mLastHttpSeconds = HttpLastSeconds()
    If failure <> HTTP_FAILED_NONE Then
        Err.Raise OBJECT_ERROR + CLIENT_ERR_TRANSPORT, "ScoringClient.SendJson", _
            TransportMessage(failure, detail, url)
    End If
    If status < 200 Or status > 299 Then
        Err.Raise OBJECT_ERROR + CLIENT_ERR_STATUS, "ScoringClient.SendJson", _
            StatusMessage(status, replyText)
    End If
    SendJson = replyText
End Function

' Seconds the last request spent in HTTP.
Public Function LastHttpSeconds() As Double
    LastHttpSeconds = mLastHttpSeconds
End Function

' Parse a reply that must be a JSON object.
Public Function ParseObject(ByVal text As String) As JsonObject
    Dim parsed As Variant
    JsonAssign parsed, JsonParse(text)
    If Not IsObject(parsed) Then
        Err.Raise OBJECT_ERROR + CLIENT_ERR_REPLY, "ScoringClient.ParseObject", _
            "The server's reply is not a JSON object: " & Left$(text, 200)
    End If
    Set ParseObject = parsed
End Function

' A reply's list of warnings (strings, or objects with a message) as one line of text.
Public Function WarningsText(ByVal warnings As Variant) As String
    WarningsText = scEntriesText(warnings, "; ", vbNullString)
End Function

' The message for a request that got no reply.
Public Function TransportMessage(ByVal failure As Long, ByVal detail As String, _
                                 ByVal url As String) As String
    Select Case failure
        Case HTTP_FAILED_CONNECT
            TransportMessage = "Cannot reach the CreditScorer server at " & SettingApiUrl() & _
                ". Is it running? Start it in the project folder with 'make serve' " & _
                "(or 'python -m server'), or correct the API address in " & _
                SettingAddress("ApiUrl") & "." & vbLf & "(" & detail & ")"
        Case HTTP_FAILED_TIMEOUT
            TransportMessage = "The server did not answer within " & SettingTimeoutSeconds() & _
                " seconds (" & url & "). Try again, raise the timeout in " & _
                SettingAddress("TimeoutSeconds") & ", or lower the batch size in " & _
                SettingAddress("BatchSize") & "." & vbLf & "(" & detail & ")"
        Case Else
            TransportMessage = "The request to " & url & " failed: " & detail
    End Select
End Function

' The message for an error status, using the problem+json body when there is one.
Public Function StatusMessage(ByVal status As Long, ByVal replyText As String) As String
    Dim problem As JsonObject
    Dim title As String
    Dim detail As String
    Dim fields As String
    Dim requestId As String
    Dim message As String

    Set problem = scTryParseObject(replyText)
    If Not problem Is Nothing Then
        title = JsonScalarText(problem.GetValue("title"))
        detail = JsonScalarText(problem.GetValue("detail"))
        fields = scEntriesText(problem.GetValue("errors"), vbLf, "- ")
        requestId = JsonScalarText(problem.GetValue("request_id"))
    End If
    If Len(title) = 0 Then title = "HTTP " & status

    Select Case status
        Case 400, 422
            message = "The server rejected the input (" & status & " " & title & ")."
            If Len(fields) > 0 Then
                message = message & vbLf & fields
            ElseIf Len(detail) > 0 Then
                message = message & vbLf & detail
            End If
        Case 401
            message = "The server needs a valid API key (401 " & title & "). " & _
                "Put your key in " & SettingAddress("ApiKey") & " (Settings > API key)."
        Case 403
            message = "The API key in " & SettingAddress("ApiKey") & _
                " is not allowed to do this (403 " & title & "). Ask for a key with the right role."
        Case 404
            message = "Not found (404 " & title & ")"
            If Len(detail) > 0 Then message = message & ": " & detail
            message = message & ". Check the model name and the API address in " & _
                SettingAddress("ApiUrl") & "."
        Case 413
            message = "The request is too large for the server (413 " & title & ")"
            If Len(detail) > 0 Then message = message & ": " & detail
            message = message & ". Lower the batch size in " & SettingAddress("BatchSize") & _
                " (now " & SettingBatchSize() & ") and try again."
        Case Else
            message = "The server answered " & status & " " & title
            If Len(detail) > 0 Then message = message & ": " & detail
            message = message & "."
    End Select
    If Len(requestId) > 0 Then message = message & vbLf & "(request id " & requestId & ")"
    StatusMessage = message
End Function

' "field: message" for one entry of a problem's errors list.
Public Function ProblemFieldText(ByVal entry As Object) As String
    Dim field As String
    Dim message As String
    field = JsonScalarText(entry.GetValue("field"))
    message = JsonScalarText(entry.GetValue("message"))
    If Len(field) > 0 Then
        ProblemFieldText = field & ": " & message
    Else
        ProblemFieldText = message
    End If
End Function

' The entries of a list (a problem's errors, a reply's warnings) as one text: an object
' as "field: message", a string as it is, each after bullet; null entries are left out.
Private Function scEntriesText(ByVal entries As Variant, ByVal separator As String, _
                               ByVal bullet As String) As String
    Dim index As Long
    Dim entry As Variant
    Dim text As String
    Dim piece As String
    If Not IsArray(entries) Then Exit Function
    For index = LBound(entries) To UBound(entries)
        JsonAssign entry, entries(index)
        If IsObject(entry) Then
            piece = ProblemFieldText(entry)
        ElseIf IsNull(entry) Then
            piece = vbNullString
        Else
            piece = CStr(entry)
        End If
        If Len(piece) > 0 Then
            If Len(text) > 0 Then text = text & separator
            text = text & bullet & piece
        End If
    Next index
    scEntriesText = text
End Function

Private Function scTryParseObject(ByVal text As String) As JsonObject
    Dim parsed As Variant
    If Len(text) = 0 Then Exit Function
    On Error GoTo NotJson
    JsonAssign parsed, JsonParse(text)
    If IsObject(parsed) Then Set scTryParseObject = parsed
    Exit Function
NotJson:
    Set scTryParseObject = Nothing
End Function
