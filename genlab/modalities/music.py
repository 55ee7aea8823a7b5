"""Sound: symbolic music (MIDI, music21's Bach chorales) and audio waveforms (WAV)."""
from . import Modality

MODALITIES = (
    Modality(
        name="music",
        description="symbolic music (MIDI notes on a time grid); samples as .mid, a piano-roll .png, .wav or .txt",
        loader="genlab.data.music:load_music",
        writer="genlab.data.music:write_music",
        suffixes=(".mid", ".midi", ".png", ".wav", ".txt"),
        evaluator="genlab.eval.music:evaluate_music_run",
        summary="genlab.eval.music:text_summary",
    ),
    Modality(
        name="audio",
        description="audio waveforms (WAV); samples as .wav, a spectrogram .png or .npz",
        loader="genlab.data.audio:load_audio",
        writer="genlab.data.audio:write_audio",
        suffixes=(".wav", ".png", ".npz"),
        evaluator="genlab.eval.music:evaluate_audio_run",
        summary="genlab.eval.music:text_summary",
        preview_count=4,  # four clips to listen to
    ),
)
