"""Images: folders, IDX files (MNIST, Fashion-MNIST), .npz arrays and scikit-learn's digits."""
from . import Modality

MODALITIES = (
    Modality(
        name="image",
        description="images (C x H x W in [0, 1]); samples as a .png grid or .npz uint8 arrays",
        loader="genlab.data.images:load_images",
        writer="genlab.outputs:write_images",
        suffixes=(".png", ".npz"),
        evaluator="genlab.eval.image_runs:evaluate_image_run",
        summary="genlab.eval.image_runs:terminal_summary",
        compare="genlab.eval.compare:compare_images",
        comparison_page="genlab.eval.compare:write_image_comparison",
        streamed=True,
    ),
)
