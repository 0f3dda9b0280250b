from .config import ConfigFileError, check_num_classes, load_config

__all__ = ['ConfigFileError', 'check_num_classes', 'load_config']
