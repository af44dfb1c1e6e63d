Attribute VB_Name = "ErrorCodes"
'=======================================================================================
' ErrorCodes - the base of every error number the modules raise, and the range each
' module takes, so that a new module picks a free one. Each module's header lists the
' numbers it raises; Err.Raise OBJECT_ERROR + n with n from its range.
'
'   1001-1099  HttpTransport      1301-1399  Settings
'   1101-1199  Json               1401-1499  BatchScoring
'   1201-1299  ScoringClient      1501-1599  CardLayout
'
' Errors raised: none.
'=======================================================================================
Option Explicit
Option Private Module

' vbObjectError, spelled out: LibreOffice does not define vbObjectError.
Public Const OBJECT_ERROR As Long = -2147221504
