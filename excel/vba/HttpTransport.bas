Attribute VB_Name = "HttpTransport"
'=======================================================================================
' HttpTransport - one HTTP request, with a timeout and the API key header, on whatever
' the platform has. The only module with platform branches.
'
'   Windows Excel   WinHttp.WinHttpRequest.5.1 (COM, late bound)
'   Mac Excel       curl, run through popen() from libc, waiting for it to finish
'   LibreOffice     curl, run through Shell, polling for the file that says it is done
'
' The curl paths write a curl config file (URL, headers incl. the key, timeouts) and the
' request body to files, so the key never appears on a command line, in a folder of the
' temp folder that the shell makes with mode 700 once per session (/tmp is shared on
' Linux), and delete every request's files afterwards.
'
' The platform is chosen at run time: LibreOffice reads both branches of an #If, so #If
' only guards the Declares (as 64-bit Office requires) and the code that uses them
' (pointer-sized LongPtr values), never a choice of platform.
'
' Errors raised: none. A request that gets no HTTP reply returns status 0 and sets
' transportError to one of the HTTP_FAILED_* codes below, with the detail in
' transportDetail; ScoringClient turns those into messages for the user. (Internally
' vbObjectError + 1001, no private temp folder, becomes such a failure.)
'=======================================================================================
Option Explicit
Option Private Module

Public Const HTTP_FAILED_NONE As Long = 0
Public Const HTTP_FAILED_CONNECT As Long = 1
Public Const HTTP_FAILED_TIMEOUT As Long = 2
Public Const HTTP_FAILED_OTHER As Long = 3

#If VBA7 Then
Private Declare PtrSafe Function tpPopen Lib "/usr/lib/libc.dylib" Alias "popen" (ByVal command As String, ByVal mode As String) As LongPtr
Private Declare PtrSafe Function tpPclose Lib "/usr/lib/libc.dylib" Alias "pclose" (ByVal stream As LongPtr) As Long
#End If

Private mLastSeconds As Double
Private mRandomized As Boolean
Private mFolder As String
Private mRequestCount As Long

Private Const TRANSPORT_ERR_FOLDER As Long = 1001

' Send one request; returns the HTTP status (0 when there was no reply).
Public Function HttpSend(ByVal method As String, ByVal url As String, ByVal body As String, _
                         ByVal apiKey As String, ByVal timeoutSeconds As Long, _
                         ByRef responseText As String, ByRef transportError As Long, _
                         ByRef transportDetail As String) As Long
    Dim winHttp As Object
    responseText = vbNullString
    transportError = HTTP_FAILED_NONE
    transportDetail = vbNullString
    mLastSeconds = 0

    On Error Resume Next
    Set winHttp = CreateObject("WinHttp.WinHttpRequest.5.1")
    On Error GoTo 0

    If Not winHttp Is Nothing Then
        HttpSend = tpSendWinHttp(winHttp, method, url, body, apiKey, timeoutSeconds, _
                                 responseText, transportError, transportDetail)
    Else
        HttpSend = tpSendCurl(method, url, body, apiKey, timeoutSeconds, _
                              responseText, transportError, transportDetail)
    End If
End Function

' Seconds the last request spent on the wire (curl's own figure on the curl paths).
Public Function HttpLastSeconds() As Double
    HttpLastSeconds = mLastSeconds
End Function

' Seconds since midnight, for timing (whole seconds in LibreOffice, finer in Excel).
Public Function ClockSeconds() As Double
    ClockSeconds = Timer
End Function

' Seconds from start to now, across midnight.
Public Function SecondsSince(ByVal start As Double) As Double
    Dim elapsed As Double
    elapsed = Timer - start
    If elapsed < 0 Then elapsed = elapsed + 86400
    SecondsSince = elapsed
End Function

' ---------------------------------------------------------------------------------------
' Windows: WinHttp
' ---------------------------------------------------------------------------------------

Private Function tpSendWinHttp(ByVal request As Object, ByVal method As String, _
                               ByVal url As String, ByVal body As String, _
                               ByVal apiKey As String, ByVal timeoutSeconds As Long, _
                               ByRef responseText As String, ByRef transportError As Long, _
                               ByRef transportDetail As String) As Long
    Dim started As Double
    Dim number As Long
    started = Timer
    On Error GoTo Failed
    request.SetTimeouts 5000, 5000, timeoutSeconds * 1000&, timeoutSeconds * 1000&
    request.Open method, url, False
    request.SetRequestHeader "Accept", "application/json"
    If Len(apiKey) > 0 Then request.SetRequestHeader "X-API-Key", apiKey
    If method = "GET" Then
        request.Send
    Else
        request.SetRequestHeader "Content-Type", "application/json"
        request.Send body
    End If
    responseText = tpUtf8Reply(request)
    tpSendWinHttp = request.Status
    mLastSeconds = SecondsSince(started)
    Exit Function
Failed:
    number = Err.Number And &HFFFF&
    transportDetail = Err.Description
    ' WinHttp errors: 12029 cannot connect, 12007 name not resolved, 12002 timeout.
    Select Case number
        Case 12029, 12007
            transportError = HTTP_FAILED_CONNECT
        Case 12002
            transportError = HTTP_FAILED_TIMEOUT
        Case Else
            transportError = HTTP_FAILED_OTHER
    End Select
    tpSendWinHttp = 0
End Function

' The reply body decoded as UTF-8 (the API's JSON is UTF-8 and says no charset, and
' ResponseText would then guess the ANSI code page); ResponseText when ADODB is missing.
Private Function tpUtf8Reply(ByVal request As Object) As String
    Dim decoder As Object
    On Error GoTo NoDecoder
    Set decoder = CreateObject("ADODB.Stream")
    decoder.Open
    CallByName decoder, "Type", VbLet, 1  ' adTypeBinary (".Type" is a keyword to LibreOffice)
    decoder.Write request.ResponseBody
    decoder.Position = 0
    CallByName decoder, "Type", VbLet, 2  ' adTypeText
    decoder.Charset = "utf-8"
    tpUtf8Reply = decoder.ReadText
    decoder.Close
    Exit Function
NoDecoder:
    tpUtf8Reply = request.ResponseText
End Function

' ---------------------------------------------------------------------------------------
' Mac Excel and LibreOffice: curl
' ---------------------------------------------------------------------------------------

Private Function tpSendCurl(ByVal method As String, ByVal url As String, ByVal body As String, _
                            ByVal apiKey As String, ByVal timeoutSeconds As Long, _
                            ByRef responseText As String, ByRef transportError As Long, _
                            ByRef transportDetail As String) As Long
    Dim stem As String
    Dim script As String
    Dim exitCode As Long
    Dim written As String
    Dim fields() As String
    Dim stage As String

    On Error GoTo Failed
    stage = "making a private temp folder"
    stem = tpPrivateFolder() & "/request" & CStr(tpNextRequest())
    stage = "writing the request files"
    tpWriteText stem & ".cfg", tpCurlConfig(method, url, apiKey, timeoutSeconds, stem)
    If method <> "GET" Then tpWriteText stem & ".json", body

    ' curl's exit status goes to .done, written last (rename is atomic): its presence
    ' says that .out, .code and .err are complete.
    script = "umask 077; curl -K '" & stem & ".cfg' > '" & stem & ".code' 2> '" & stem & _
             ".err'; echo $? > '" & stem & ".part'; mv '" & stem & ".part' '" & stem & ".done'"

    stage = "running curl"
    tpRunScript script, stem & ".done", timeoutSeconds + 10

    If Not tpExists(stem & ".done") Then
        transportError = HTTP_FAILED_TIMEOUT
        transportDetail = "curl did not finish in " & (timeoutSeconds + 10) & " seconds"
        GoTo CleanExit
    End If
    stage = "reading the reply files"
    exitCode = CLng(Val(tpReadText(stem & ".done")))
    Select Case exitCode
        Case 0
            written = Trim$(tpReadText(stem & ".code"))
            fields = Split(written, " ")
            tpSendCurl = CLng(Val(fields(0)))
            If UBound(fields) >= 1 Then mLastSeconds = Val(fields(1))
            responseText = tpReadText(stem & ".out")
            If tpSendCurl < 100 Then
                transportError = HTTP_FAILED_OTHER
                transportDetail = "curl finished without an HTTP status ('" & written & "')"
            End If
        Case 6, 7
            transportError = HTTP_FAILED_CONNECT
            transportDetail = Trim$(tpReadText(stem & ".err"))
        Case 28
            transportError = HTTP_FAILED_TIMEOUT
            transportDetail = Trim$(tpReadText(stem & ".err"))
        Case 127
            transportError = HTTP_FAILED_OTHER
            transportDetail = "curl is not installed (the shell could not find it)"
        Case Else
            transportError = HTTP_FAILED_OTHER
            transportDetail = "curl exit code " & exitCode & ": " & Trim$(tpReadText(stem & ".err"))
    End Select

CleanExit:
    tpDeleteFiles stem
    Exit Function
Failed:
    transportError = HTTP_FAILED_OTHER
    transportDetail = Err.Description & " (error " & Err.Number & " while " & stage & ")"
    tpSendCurl = 0
    Resume CleanExit
End Function

' A curl config file: the key stays off the command line.
Private Function tpCurlConfig(ByVal method As String, ByVal url As String, _
                              ByVal apiKey As String, ByVal timeoutSeconds As Long, _
                              ByVal stem As String) As String
    Dim lines As String
    lines = "url = " & tpConfigQuote(url) & vbLf
    lines = lines & "request = " & tpConfigQuote(method) & vbLf
    lines = lines & "header = ""Accept: application/json""" & vbLf
    If Len(apiKey) > 0 Then lines = lines & "header = " & tpConfigQuote("X-API-Key: " & apiKey) & vbLf
    If method <> "GET" Then
        lines = lines & "header = ""Content-Type: application/json""" & vbLf
        lines = lines & "data-binary = " & tpConfigQuote("@" & stem & ".json") & vbLf
    End If
    lines = lines & "connect-timeout = 5" & vbLf
    lines = lines & "max-time = " & CStr(timeoutSeconds) & vbLf
    lines = lines & "silent" & vbLf & "show-error" & vbLf
    lines = lines & "noproxy = ""127.0.0.1,localhost""" & vbLf
    lines = lines & "output = " & tpConfigQuote(stem & ".out") & vbLf
    lines = lines & "write-out = ""%{http_code} %{time_total}""" & vbLf
    tpCurlConfig = lines
End Function

Private Function tpConfigQuote(ByVal text As String) As String
    tpConfigQuote = """" & Replace(Replace(text, "\", "\\"), """", "\""") & """"
End Function

' LibreOffice: Shell returns at once, so wait for the marker file, a few ms at a time.
Private Sub tpRunShell(ByVal script As String, ByVal marker As String, ByVal limitSeconds As Long)
    Dim deadline As Date
    Dim taskId As Variant
    taskId = Shell("/bin/sh -c """ & script & """", vbHide)
    deadline = Now + limitSeconds / 86400#
    Do While Not tpExists(marker)
        If Now > deadline Then Exit Do
        Application.Wait Now + 0.01 / 86400#
    Loop
End Sub

' Mac Excel: popen runs the script with /bin/sh -c itself (so $? reaches the script's own
' shell unexpanded); pclose waits for it to finish. The pointer-sized variable and the
' calls sit under #If VBA7 with their Declares, so that a VBA6 host still compiles the
' project; there (Mac Office 2011) nothing runs, no reply file appears and the request
' fails as "no reply". LibreOffice compiles both branches, so neither declares anything
' the other does.
Private Sub tpRunMac(ByVal script As String)
#If VBA7 Then
    Dim stream As LongPtr
    stream = tpPopen(script, "r")
    If stream <> 0 Then tpPclose stream
#Else
    ' No popen on VBA6: the caller sees no reply file.
#End If
End Sub

' The folder for the request files, made once per session by the shell with mode 700: the
' curl config holds the API key, and /tmp is shared on Linux. A fresh random name each
' time; mkdir fails (and the next name is tried) if the name exists, so an existing
' folder of someone else's is never used.
Private Function tpPrivateFolder() As String
    Dim root As String
    Dim folder As String
    Dim attempt As Long
    Dim status As Long
    If Len(mFolder) > 0 Then
        If tpExists(mFolder & "/ready") Then
            tpPrivateFolder = mFolder
            Exit Function
        End If
    End If
    root = Environ$("TMPDIR")
    If Len(root) = 0 Then root = "/tmp"
    If Right$(root, 1) = "/" Then root = Left$(root, Len(root) - 1)
    If Not mRandomized Then
        Randomize
        mRandomized = True
    End If
    For attempt = 1 To 3
        folder = root & "/creditscorer-" & Format$(Date, "yyyymmdd") & "-" & _
                 CStr(Int(Rnd * 1000000000#)) & CStr(Int(Timer))
        tpRunScript "mkdir -m 700 '" & folder & "' && touch '" & folder & "/ready'; echo $? > '" & _
                    folder & ".part'; mv '" & folder & ".part' '" & folder & ".status'", _
                    folder & ".status", 10
        status = -1
        If tpExists(folder & ".status") Then status = CLng(Val(tpReadText(folder & ".status")))
        If tpExists(folder & ".status") Then Kill folder & ".status"
        If status = 0 And tpExists(folder & "/ready") Then
            mFolder = folder
            tpPrivateFolder = folder
            Exit Function
        End If
    Next attempt
    Err.Raise OBJECT_ERROR + TRANSPORT_ERR_FOLDER, "HttpTransport.tpPrivateFolder", _
        "could not make a private folder in " & root
End Function

Private Function tpNextRequest() As Long
    mRequestCount = mRequestCount + 1
    tpNextRequest = mRequestCount
End Function

' Run a shell script to its end: popen and pclose on a Mac; on LibreOffice, Shell and a
' poll for the marker file the script writes last.
Private Sub tpRunScript(ByVal script As String, ByVal marker As String, ByVal limitSeconds As Long)
    If InStr(1, Application.OperatingSystem, "Mac", vbTextCompare) > 0 Then
        tpRunMac script
    Else
        tpRunShell script, marker, limitSeconds
    End If
End Sub

' Whether a file exists. Dir$ lists the folder, which other programs change meanwhile; a
' failed look counts as "not yet" (the poll looks again a few ms later).
Private Function tpExists(ByVal path As String) As Boolean
    On Error GoTo NotFound
    tpExists = (Len(Dir$(path)) > 0)
    Exit Function
NotFound:
    tpExists = False
End Function

Private Sub tpWriteText(ByVal path As String, ByVal text As String)
    Dim handle As Long
    handle = FreeFile
    Open path For Output As #handle
    Print #handle, text
    Close #handle
End Sub

Private Function tpReadText(ByVal path As String) As String
    Dim handle As Long
    Dim size As Long
    If Not tpExists(path) Then Exit Function
    handle = FreeFile
    Open path For Input As #handle
    size = LOF(handle)
    If size > 0 Then tpReadText = Input$(size, handle)
    Close #handle
End Function

Private Sub tpDeleteFiles(ByVal stem As String)
    Dim suffixes As Variant
    Dim index As Long
    suffixes = Array(".cfg", ".json", ".code", ".err", ".part", ".done", ".out")
    For index = LBound(suffixes) To UBound(suffixes)
        If tpExists(stem & suffixes(index)) Then Kill stem & suffixes(index)
    Next index
End Sub
