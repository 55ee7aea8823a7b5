from .run import build_model, load, resume, train
from .trainer import Trainer

__all__ = ["Trainer", "build_model", "load", "resume", "train"]
