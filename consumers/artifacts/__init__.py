"""Artifact stores: the interface (`base`), the folder backend (`consumers.storage`) and S3 (`s3`)."""
