import warnings

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Imaging"

    def ready(self) -> None:
        # pydicom's warnings quote element values (PHI); stderr is a log too.
        warnings.filterwarnings("ignore", module=r"pydicom(\..*)?$")
