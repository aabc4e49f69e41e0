"""The radiology viewer: series browser, three linked orthogonal views, measurements, 3D."""
