"""Whole videos through the conversion chain: segments of frames decoded, stylized by the same actor
pool and encoded in parallel, then joined with the source's sound and subtitles."""
