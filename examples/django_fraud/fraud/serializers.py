from rest_framework import serializers


class FraudRequestSerializer(serializers.Serializer):
    amount = serializers.FloatField(min_value=0)
    is_new_customer = serializers.BooleanField()
    email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)
    national_id = serializers.CharField(required=False, allow_blank=True)
    age = serializers.IntegerField(required=False, min_value=0)
    country = serializers.CharField(required=False, allow_blank=True)


class FraudResponseSerializer(serializers.Serializer):
    fraud_probability = serializers.FloatField()
    is_fraud = serializers.BooleanField()
    prediction_id = serializers.UUIDField()
