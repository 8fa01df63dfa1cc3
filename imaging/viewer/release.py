"""The OHIF release Palisade serves. Upgrading: docs/viewer.md ("Upgrading OHIF").

The integrity is the registry's `dist.integrity` of the tarball (`npm view @ohif/app@<version>
dist.integrity`); the installer refuses a tarball that does not match it.
"""

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
OHIF_INTEGRITY = (
    "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
)
