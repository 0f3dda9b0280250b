from .config import ConfigFileError, check_num_classes, dataset_metainfo, load_config

__all__ = ['ConfigFileError', 'check_num_classes', 'dataset_metainfo', 'load_config']
