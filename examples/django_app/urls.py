import views
from django.urls import path

urlpatterns = [
    path("api/public", views.public),
    path("api/orders", views.orders),
]
