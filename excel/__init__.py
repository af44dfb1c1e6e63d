"""The Excel side: the workbook build (excel.build), its VBA modules (excel/vba/)."""
