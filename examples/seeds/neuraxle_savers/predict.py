"""Load the pipeline by name, knowing nothing of its structure, and predict: python predict.py"""

import json

import numpy as np

import torchon

pipeline = torchon.load("cache/my_pipeline")
print(json.dumps(pipeline.predict(np.array([[2.0, 1.0], [-3.0, 0.5]])).tolist()))  # [5.0, -9.0]
