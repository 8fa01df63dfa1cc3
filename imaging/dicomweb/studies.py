"""/dicomweb/<tenant>/studies: PS3.18 puts two services on one resource, GET searching (QIDO-RS 10.6)
and POST storing (STOW-RS 10.5). Each keeps its own view; this one only picks the right to check."""

from rest_framework.request import Request

from imaging.dicomweb.qido import SearchStudiesView
from imaging.dicomweb.stow import StowView

_READS = {"GET", "HEAD", "OPTIONS"}


class StudiesView(SearchStudiesView, StowView):
    def initial(self, request: Request, *args, **kwargs) -> None:
        # Set per request, before DicomwebView checks it: any member may search, only storers store.
        self.required_action = (
            SearchStudiesView.required_action if request.method in _READS else StowView.required_action
        )
        super().initial(request, *args, **kwargs)
