"""Write digits_vectors.npz: scikit-learn's digits as 64 standardized features (no test split: regsweep
holds one out). Offline: the data ship with scikit-learn."""

import numpy as np
from sklearn.datasets import load_digits

if __name__ == "__main__":
    digits = load_digits()
    x = (digits.data - digits.data.mean(axis=0)) / (digits.data.std(axis=0) + 1e-6)
    np.savez("digits_vectors.npz", x_train=x.astype("float32"), y_train=digits.target)
    print("wrote digits_vectors.npz:", x.shape, "features,", len(set(digits.target)), "classes")
