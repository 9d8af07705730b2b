"""The tracking SDK: the run handle, the background writer and capture."""
