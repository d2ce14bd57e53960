"""What a run leaves: its folder and record (runs), the outputs fed as it goes (sink, recorder, video,
TensorBoard), figures, and scores of finished images (metrics)."""
