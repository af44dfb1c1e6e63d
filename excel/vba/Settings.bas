Attribute VB_Name = "Settings"
'=======================================================================================
' Settings - the values of the named cells on the Settings sheet, checked and defaulted.
'
' Names: ApiUrl, ApiKey, TimeoutSeconds, BatchSize, DefaultModel (Settings!B3:B7).
'
' Errors raised:
'   vbObjectError + 1301  a setting has a value that cannot work (the message says which)
'=======================================================================================
Option Explicit
Option Private Module

Public Const SETTINGS_ERR_INVALID As Long = 1301
Private Const DEFAULT_API_URL As String = "http://127.0.0.1:5000"

' The API's base address, without a trailing slash.
Public Function SettingApiUrl() As String
    Dim url As String
    url = Trim$(CStr(stCell("ApiUrl").Value))
    If Len(url) = 0 Then url = DEFAULT_API_URL
    Do While Right$(url, 1) = "/"
        url = Left$(url, Len(url) - 1)
    Loop
    If LCase$(Left$(url, 7)) <> "http://" And LCase$(Left$(url, 8)) <> "https://" Then
        stInvalid "API address", "must start with http:// or https://, e.g. " & DEFAULT_API_URL
    End If
    SettingApiUrl = url
End Function

' The API key, or "" when the server has no keys.
Public Function SettingApiKey() As String
    SettingApiKey = Trim$(CStr(stCell("ApiKey").Value))
End Function

' Seconds to wait for one request (1-600, default 30).
Public Function SettingTimeoutSeconds() As Long
    SettingTimeoutSeconds = stWholeNumber("TimeoutSeconds", "Timeout (s)", 30, 1, 600)
End Function

' Rows per batch request (1-100000, default 1000).
Public Function SettingBatchSize() As Long
    SettingBatchSize = stWholeNumber("BatchSize", "Batch size", 1000, 1, 100000)
End Function

' The model the Batch sheet uses (default "logistic").
Public Function SettingDefaultModel() As String
    SettingDefaultModel = Trim$(CStr(stCell("DefaultModel").Value))
    If Len(SettingDefaultModel) = 0 Then SettingDefaultModel = "logistic"
End Function

' Where a setting lives, for messages: "Settings!B4".
Public Function SettingAddress(ByVal name As String) As String
    SettingAddress = "Settings!" & stCell(name).Address(False, False)
End Function

Private Function stCell(ByVal name As String) As Range
    Set stCell = ThisWorkbook.Names(name).RefersToRange
End Function

Private Function stWholeNumber(ByVal name As String, ByVal label As String, _
                               ByVal fallback As Long, ByVal lowest As Long, _
                               ByVal highest As Long) As Long
    Dim value As Variant
    value = stCell(name).Value
    If IsEmpty(value) Then
        stWholeNumber = fallback
        Exit Function
    End If
    If Not IsNumeric(value) Then stInvalid label, "must be a whole number"
    If CDbl(value) < lowest Or CDbl(value) > highest Or CDbl(value) <> Int(CDbl(value)) Then
        stInvalid label, "must be a whole number from " & lowest & " to " & highest
    End If
    stWholeNumber = CLng(value)
End Function

Private Sub stInvalid(ByVal label As String, ByVal rule As String)
    Err.Raise OBJECT_ERROR + SETTINGS_ERR_INVALID, "Settings", _
        "Settings > " & label & " " & rule & "."
End Sub
