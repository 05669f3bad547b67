"""What we compute from media: pure functions of frames and time ranges."""
