"""DICOMweb (PS3.18) under /dicomweb/<tenant-slug>/: STOW-RS now; QIDO-RS and WADO-RS join here."""
