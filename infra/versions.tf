# Terraform 1.11 or newer: the secrets are written through write-only arguments (`secret_data_wo`), so their
# values never land in a plan or in the state.
#
# Each provider is capped below its next major that nobody has held these files against; a major may remove or
# change any argument. google: `make test` checks every block here against the schema of 6.50.0, the newest
# whose schema is published as an npm package (tests/tf_schema.py); and 7.0's breaking changes (its upgrade guide)
# were read against these files: of the resource types used here they touch two, and neither bites
# (`event_trigger.event_type` of a function becomes required: every trigger here sets it; `disable_on_destroy` of an
# API defaults to false: set here explicitly). So 6.25 (write-only secrets) up to any 7.x, not 8.0, whose changes
# nobody has read yet. archive: checked against 2.7.1, so below 3.0.
terraform {
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.25, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region

  # The Firebase Rules API refuses user credentials unless a quota project is named; this names ours.
  user_project_override = true
  billing_project       = var.project

  # Every resource created here carries these labels, so the bill and the console can tell them apart.
  default_labels = local.labels
}
