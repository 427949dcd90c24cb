# Terraform 1.11 or newer: the secrets are written through write-only arguments (`secret_data_wo`), so their
# values never land in a plan or in the state.
terraform {
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.25, < 9.0"
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
