"""Training pipeline for the ser speech-emotion models.

Features always come from the Rust `ser-features` binary (see data.py); this
package trains PyTorch models on them, cross-validates them on the EmoBox
RAVDESS speaker-independent folds and exports self-describing ONNX models.
"""

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]

DEFAULT_FEATURE_CONFIG = {
    "sample_rate": 16000,
    "n_fft": 512,
    "win_length": 400,
    "hop_length": 160,
    "n_mels": 64,
    "fmin": 0.0,
    "fmax": 8000.0,
    "kind": "mfcc",
    "n_mfcc": 40,
    "cmvn": False,
}
