"""Face detection, landmarks, crops, masks and identity embeddings for single frames."""
