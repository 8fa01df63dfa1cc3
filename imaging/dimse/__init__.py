"""The DIMSE service (PS3.7): a DICOM listener for every clinic, routed by the called AE title."""
