"""lbprovider provider for Tencent Cloud (CLB through tencentcloud-sdk-python-clb)."""
