"""The image conversion chain on Ray Data (list, decode, stylize, encode, write, manifest); `video`,
`comic` and `training` build on it."""
