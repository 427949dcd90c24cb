# One source archive for every function, built from the repository on each `terraform apply`: what the
# functions import (functions/), render (templates/) and install (requirements.txt), and nothing else. A
# changed file changes the archive's hash, hence the object's name, hence a new build of every function.

locals {
  repository = abspath("${path.module}/..")

  # functions/main.py is the entry module (GOOGLE_FUNCTION_SOURCE); `signup` is found next to it.
  source_patterns = ["functions/**/*.py", "templates/**", "requirements.txt"]
  source_files = sort(distinct(flatten([
    for pattern in local.source_patterns : tolist(fileset(local.repository, pattern))
  ])))
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/signup-source.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      filename = source.value
      content  = file("${local.repository}/${source.value}")
    }
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the functions' source archives, rebuilt from the repository at will: no personal data, no secrets; access logs would only show Terraform and Cloud Functions reading them.
  name     = "${var.project}-signup-source"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Archives are rebuilt from the repository at will; `terraform destroy` may take them along.
  force_destroy = true

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  name   = "signup-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}
