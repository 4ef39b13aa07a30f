"""lbprovider provider for AWS: Network Load Balancers through boto3's elbv2 and ec2.

``settings`` (class settings), ``options`` (Service annotations), ``model``
(pure desired state and diffs), ``naming`` (names and tags), ``api`` (every
SDK call, through the provider kit), ``provider`` (read, diff, apply) and
``mock`` (moto behind the mock-cloud kit's fault-injecting proxy).
"""
