"""Prediction speed: the checkpoint path (torch) against the exported model (onnxruntime), same crops, same run.

The demo's network (resnet10t at 64 px grey, random weights: speed does not depend on them) is saved as a
train.py-style checkpoint and exported with `fer.deploy.export`, all in a temporary folder, without network access.

- faces/s: 512 real face crops (scikit-image's astronaut, shifted and re-lit per crop, through the face
  pipeline) in batches of 32, through `TorchPredictor.probabilities` and `OnnxPredictor.probabilities` (both
  on `threads` threads: `torch.set_num_threads`, onnxruntime's intra-op threads); a warm-up round first, then
  the two alternate block by block, so load from other processes hits both. `ratio` = ONNX / torch.
- frames/s: a synthetic 640 x 480 video (8 fps; the face moves, every 10th frame is blank) through the whole
  `fer.deploy.predict` video path (decode, Haar detection, crop, batched network, rows as JSON), both runtimes.

    python -m bench predict [--quick]
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import torch

CONF = Path(__file__).resolve().parents[1] / "conf"


def demo_checkpoint(path: Path) -> Path:
    """A train.py-style checkpoint of the demo's network (random weights), describing itself."""
    import hydra
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from fer.runs.resolvers import register_resolvers

    register_resolvers()  # the config's resolvers, as train.py registers them
    from fer.runs.description import describe_run

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train.yaml", overrides=["experiment=demo", "logger=none"])
    torch.manual_seed(0)
    model = hydra.utils.instantiate(cfg.model)
    model.describe(describe_run(cfg))
    hparams = {
        k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig | ListConfig) else v
        for k, v in model.hparams.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams}, path)
    return path


def astronaut(shift: tuple[int, int] = (0, 0), gain: float = 1.0) -> np.ndarray:
    from skimage import data

    dx, dy = shift
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[max(0, 20 + dy) : 300 + dy, max(0, 90 + dx) : 330 + dx]
    return cv2.convertScaleAbs(img, alpha=gain, beta=0)


def crops(pipeline, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    faces = []
    for _ in range(n):
        image = pipeline.from_bgr(astronaut(tuple(rng.integers(-15, 16, 2)), float(rng.uniform(0.8, 1.2))))
        faces.append(pipeline.all_faces(image)[0].crop)
    return pipeline.batch(faces)


def make_video(path: Path, frames: int, fps: float = 8.0) -> Path:
    face = astronaut()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for i in range(frames):
        canvas = np.full((480, 640, 3), 40, np.uint8)
        if i % 10 != 9:
            x, y = 40 + (i * 7) % 300, 60 + (i * 3) % 100
            canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
        writer.write(canvas)
    writer.release()
    return path


def faces_per_s(predictors: dict, batch: np.ndarray, bs: int, rounds: int) -> tuple[dict, float]:
    """faces/s of each predictor over `rounds` passes over `batch` (alternating), and the largest difference."""
    outs = {k: p.probabilities(batch[:bs]) for k, p in predictors.items()}  # warm-up
    seconds = dict.fromkeys(predictors, 0.0)
    order = list(predictors)
    for r in range(rounds):
        for name in order[r % 2 :] + order[: r % 2]:
            t0 = time.perf_counter()
            outs[name] = np.concatenate(
                [predictors[name].probabilities(batch[i : i + bs]) for i in range(0, len(batch), bs)]
            )
            seconds[name] += time.perf_counter() - t0
    diff = float(np.abs(outs["torch"] - outs["onnx"]).max())
    return {k: rounds * len(batch) / s for k, s in seconds.items()}, diff


def frames_per_s(predictor, video: Path, detector: str = "haar") -> tuple[float, int]:
    from fer.deploy.predict import predict

    pipeline = predictor.pipeline.with_faces(detector)
    t0 = time.perf_counter()
    rows = [json.dumps(r) for r in predict(predictor, [str(video)], pipeline)]
    seconds = time.perf_counter() - t0
    frames = len({json.loads(r)["frame"] for r in rows})
    return frames / seconds, frames


def run(quick: bool = False) -> dict:
    from fer.deploy.export import export
    from fer.deploy.predictors import OnnxPredictor, TorchPredictor

    threads = int(os.environ.get("FER_BENCH_THREADS", 1))
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    n, rounds, n_frames, bs = (128, 2, 24, 32) if quick else (512, 6, 160, 32)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = demo_checkpoint(tmp / "run" / "checkpoints" / "demo.ckpt")
        t0 = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            onnx_path, _ = export(ckpt, tmp / "demo.onnx")
        export_s = time.perf_counter() - t0
        predictors = {"torch": TorchPredictor(ckpt), "onnx": OnnxPredictor(onnx_path, threads=threads)}
        pipeline = predictors["torch"].pipeline
        batch = crops(pipeline, n)
        speed, diff = faces_per_s(predictors, batch, bs, rounds)
        video = make_video(tmp / "clip.mp4", n_frames)
        fps = {k: frames_per_s(p, video) for k, p in predictors.items()}
    return {
        "network": "resnet10t (demo, random weights)",
        "input": f"{pipeline.size} px {pipeline.color}",
        "threads": threads,
        "faces": n,
        "batch": bs,
        "rounds": rounds,
        "export_s": round(export_s, 1),
        "torch_faces_per_s": round(speed["torch"], 1),
        "onnx_faces_per_s": round(speed["onnx"], 1),
        "ratio": round(speed["onnx"] / speed["torch"], 2),
        "max_abs_prob_difference": diff,
        "video": f"{n_frames} frames 640x480 mp4v, every 10th blank, detector haar",
        "torch_video_frames_per_s": round(fps["torch"][0], 1),
        "onnx_video_frames_per_s": round(fps["onnx"][0], 1),
        "frames_predicted": fps["onnx"][1],
        "video_ratio": round(fps["onnx"][0] / fps["torch"][0], 2),
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv)))
