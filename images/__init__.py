"""Images for multimodal requests: synthetic images (`images.synth`), pools built ahead of
the run (`images.pool`), image files and URL lists (`images.files`), the project's sample
images (`images.make_samples`, `images/samples/`) and a static server for URLs (`images.server`).
Errors are `images.errors.ImageError`, one line each."""
