"""Write the two artifacts a training run would have left behind: run-7/vocab.txt and run-7/weights.npy."""

from pathlib import Path

import numpy as np

words = ["bad", "boring", "film", "good", "great", "plot"]  # sorted: weights[i] is the weight of words[i]
weights = np.array([-1.0, -0.5, 0.0, 1.0, 2.0, 0.25])

Path("run-7").mkdir(exist_ok=True)
Path("run-7/vocab.txt").write_text("\n".join(words) + "\n")
np.save("run-7/weights.npy", weights)
print("wrote run-7/vocab.txt and run-7/weights.npy")
