"""The light built-in viewer for phones: one study's images as WADO-RS `/rendered` frames, with series
thumbnails, scrolling, window/level and zoom (docs/viewer.md, The light viewer)."""
