"""Tests of emovec.scoring."""
