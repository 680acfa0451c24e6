"""Point-cloud shape classification: area-weighted surface samples of 16 procedural shape classes and 3D Tetris."""
