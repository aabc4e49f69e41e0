"""Plugins and predictions: manifests, discovery and integrity, onnxruntime sessions, inputs
assembled from the record, explanations, stored predictions.

onnxruntime is imported lazily (inside functions) so that importing this package stays cheap.
"""
