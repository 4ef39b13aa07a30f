"""lbprovider provider for AWS (Network Load Balancers through boto3's elbv2 and ec2)."""
