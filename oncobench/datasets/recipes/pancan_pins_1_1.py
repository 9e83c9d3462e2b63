"""Pinned raw files of the sources tcga-pancan 1.1 adds (CSV exports the data curators derived: offline only,
``--raw-dir``; sha256 and size checked on every use, as for :mod:`oncobench.datasets.pins`)."""

from __future__ import annotations

from oncobench.datasets.pins import PinnedFile

PINS_1_1: tuple[PinnedFile, ...] = (
    PinnedFile('tcga_brca_rjive_expr_meth_mirna/derived/brca_methylation.csv.gz', None, 'b742fcdf70f05742a5341526a6f6fbb14d97ebd1e941af495c62bceb102b5d52', 1622934, 'tcga_brca_rjive_expr_meth_mirna'),
    PinnedFile('tcga_coad_dmtest_methylation/derived/coad_beta_1000cpg.csv.gz', None, '1f1b1356441fcb484b45a60c32eeea634735941c6f54dca834e5230f6431016c', 2731023, 'tcga_coad_dmtest_methylation'),
    PinnedFile('tcga_coad_dmtest_methylation/derived/coad_covariate.csv', None, '9ba7653af06c1e7a7b630e147521054b82a65c7f41679e54cf2b531ea337d27f', 9454, 'tcga_coad_dmtest_methylation'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_meth.csv.gz', None, 'cc1aa4a3cdd44f96687b339bb9dd5adfb17bc9720375e8c153d9dc79f0c387e1', 1341826, 'tcga_paad_wissel2023_6omics_survival'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_gex.csv.gz', None, 'fced6f479149ea96d1612b1386eb0854bc652e5997be5e5c5c948f1cd01decf2', 801230, 'tcga_paad_wissel2023_6omics_survival'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_cnv.csv.gz', None, 'd8322b2fe148698e94286817ae79571bb320827dd06d0b33170745cd83722ccf', 21907, 'tcga_paad_wissel2023_6omics_survival'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_rppa.csv.gz', None, 'a459b893323fb527ad0b8cf724725f59bb482848386278e7d3b71d488309b19d', 88018, 'tcga_paad_wissel2023_6omics_survival'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_mutation.csv.gz', None, '01d04a4a1f6181fcb597b444ce8bd96c9a9597dfe8ba83653ed742804fdac72f', 13110, 'tcga_paad_wissel2023_6omics_survival'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/RNASeq2GeneNorm.csv', None, 'fdd456ed723455721aa32129dd27d88ed782ac2ab31a4a7764539054f3994ac4', 145916, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/gistict.csv', None, 'ca6e7e0293b7fe4250c9dcd34a3b3d3978d681efaeb81c015b5bc391a6ba348f', 43208, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/RPPAArray.csv', None, '8c4a835db762c31b20bccf1562db6399a5b34b801fcb0ce86bf5120c22541dab', 23790, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/Mutations.csv', None, 'b35481015a1f493f0c005472d0954ab4f039ddf6e1e5f18be97fec5a2d8ed4f1', 21000, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/miRNASeqGene.csv', None, 'bab573cef87dd4c563e7ab5d4a04e658b2119bd117cb454823ebbd0dfc741e00', 137889, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/sampleMap.csv', None, '798bcd8e1182d001e887b9cf9beb23c47d9549407c2fd452055a07749463bc8c', 25051, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_acc_miniacc_5assays/derived/colData.csv', None, 'eb0b31d45e24450ea82241aeefc1898a29170ef552beae38f0b2ff014ee911fd', 25573, 'tcga_acc_miniacc_5assays'),
    PinnedFile('tcga_paad_wissel2023_6omics_survival/derived/paad_subsampling_100x_80_20.csv.gz', None, 'f01236917398aaa6e9c0e58a373680e92ef213442f2efec32f239563315bde83', 23850, 'tcga_paad_wissel2023_6omics_survival'),
)
