"""The OHIF viewer (npm `@ohif/app`), installed from its prebuilt dist/ and served same-origin at /viewer/.

`release` pins the package, `install` unpacks and rewrites it for /viewer/, `config` writes a clinic's
app-config.js, `views` serve all of it (docs/viewer.md).
"""
