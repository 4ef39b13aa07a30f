"""lbprovider provider for Alibaba Cloud (SLB through aliyun-python-sdk-slb)."""
