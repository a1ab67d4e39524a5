# The native part of @pgfleet/core: liblz4's block functions (native/lz4-block.c).
# liblz4's source is the copy the lz4 package ships (and builds for itself), so nothing beyond
# what `npm ci` installs is needed: make, a C compiler and Python for node-gyp.
{
  'variables': {
    'lz4_lib': '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'lz4/package.json\')), \'deps\', \'lz4\', \'lib\')")',
  },
  'targets': [
    {
      'target_name': 'lz4_block',
      'sources': ['native/lz4-block.c'],
      'include_dirs': ['<(lz4_lib)'],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-O3'],
    },
  ],
}
