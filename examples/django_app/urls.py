from django.urls import path

import views

urlpatterns = [
    path("api/public", views.public),
    path("api/orders", views.orders),
]
