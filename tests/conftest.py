import os
import sys
from pathlib import Path

# Tests import the project's rooms from the repo root, and never reach a model hub.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
